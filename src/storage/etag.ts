/** An ETag without its quotes: S3 quotes them; some stores and SDK paths do not. Compare these. */
export const bareEtag = (etag: string): string => etag.replace(/^"|"$/g, '');
