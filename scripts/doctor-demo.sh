#!/bin/bash
# ferry doctor against the shared dev RGW (RGW_BASE=/tmp/ferry-rgw-dev): full, read-only,
# append-only, no-rights (user test2 + bucket policies) and an assumed role. Creates four
# uniquely named buckets and removes them at the end. Build first: npx tsc -p tsconfig.build.json
source "${RGW_BASE:-/tmp/ferry-rgw-dev}/rgw.env"; unset AWS_CA_BUNDLE
A="aws --endpoint-url http://127.0.0.1:7480"
S=$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
RO=ferry-i3-demo-ro-$S; AO=ferry-i3-demo-ao-$S; NO=ferry-i3-demo-none-$S; FULL=ferry-i3-demo-full-$S
for b in $RO $AO $NO $FULL; do $A s3api create-bucket --bucket $b >/dev/null; done
echo data | $A s3 cp - s3://$RO/drop/existing.txt >/dev/null
pol() { echo "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":[\"arn:aws:iam:::user/test2\"]},\"Action\":$2,\"Resource\":[\"arn:aws:s3:::$1\",\"arn:aws:s3:::$1/*\"]}]}"; }
$A s3api put-bucket-policy --bucket $RO --policy "$(pol $RO '["s3:GetObject","s3:ListBucket","s3:GetBucketLocation"]')"
$A s3api put-bucket-policy --bucket $AO --policy "$(pol $AO '["s3:PutObject","s3:GetObject","s3:ListBucket","s3:GetBucketLocation","s3:ListBucketMultipartUploads","s3:AbortMultipartUpload"]')"
F="node $(cd "$(dirname "$0")/.." && pwd)/bin/ferry.js"
T2="--access-key $AWS_ACCESS_KEY_ID_2 --secret-key $AWS_SECRET_ACCESS_KEY_2"
run() { echo; echo "\$ ferry $*" | sed "s|$AWS_SECRET_ACCESS_KEY_2|***|; s|$S|XXXXXX|g"; $F "$@" | sed "s/$S/XXXXXX/g"; echo "(exit code ${PIPESTATUS[0]})"; }
echo "### full user (test, keys from the environment)"; run doctor s3://$FULL/drop
echo "### read-only user (test2, bucket policy: GetObject, ListBucket, GetBucketLocation)"; run $T2 doctor s3://$RO/drop
echo "### append-only user (test2, bucket policy without DeleteObject)"; run $T2 doctor s3://$AO/drop
echo "### user with no rights (test2, no policy)"; run $T2 doctor s3://$NO/drop
echo "### assumed role (test → arn:aws:iam:::role/S3Access on the STS gateway)"; run --endpoint http://127.0.0.1:7481 --role-arn arn:aws:iam:::role/S3Access --external-id demo-ext doctor s3://$FULL/drop
# clean up (as test, the owner)
for b in $RO $AO $NO $FULL; do $A s3 rm --recursive s3://$b >/dev/null 2>&1; $A s3api delete-bucket --bucket $b; done
