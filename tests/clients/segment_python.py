"""Sends events to signal-edge with Segment's official Python library (segment-analytics-python),
its host pointed at the gateway and the pipeline key as the write key, as a Segment user would.
Usage: python3 segment_python.py HOST WRITE_KEY"""
import sys

import segment.analytics as analytics

host, write_key = sys.argv[1], sys.argv[2]
errors = []
analytics.write_key = write_key
analytics.host = host
analytics.sync_mode = True
analytics.on_error = lambda error, items: errors.append(str(error))

analytics.identify("py-user-1", {"plan": "enterprise", "accountId": "py-corp"})
analytics.track("py-user-1", "Report Exported", {"format": "csv"})
analytics.page("py-user-1", "Docs", "Getting started", {"url": "https://app.example.com/docs"})
analytics.group("py-user-1", "py-corp", {"industry": "saas"})
analytics.flush()

if errors:
    print("errors:", errors)
    sys.exit(1)
print("sent")
