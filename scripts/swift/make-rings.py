#!/usr/bin/python3
# Build Swift's object, container and account rings for one device (d1 on 127.0.0.1, 1 replica)
# in one process: `swift-ring-builder` create/add/rebalance would start Python 9 times, which
# dominated a cold start on a loaded machine.
#   usage: make-rings.py ETC_DIR object:PORT container:PORT account:PORT
import sys

from swift.common.ring import RingBuilder

etc = sys.argv[1]
for spec in sys.argv[2:]:
    name, port = spec.split(':')
    builder = RingBuilder(8, 1, 1)  # 2^8 partitions, 1 replica, min_part_hours 1
    builder.add_dev({'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': int(port),
                     'replication_ip': '127.0.0.1', 'replication_port': int(port),
                     'device': 'd1', 'weight': 100, 'meta': ''})
    builder.rebalance()
    builder.save(f'{etc}/{name}.builder')
    builder.get_ring().save(f'{etc}/{name}.ring.gz')
