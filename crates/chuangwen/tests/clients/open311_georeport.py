"""Reads Chuangwen's Open311 endpoint with `georeport` from PyPI, a GeoReport v2
client written elsewhere, in JSON and in XML, and prints what it read as one
JSON line for the Rust test (tests/open311.rs) to check against the store.

Usage: open311_georeport.py ROOT_URL REQUEST_NUMBER
"""

import json
import sys

from georeport import GeoReport


def as_list(value):
    # xmltodict gives a dict for a single element and a list for several.
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def read(root, number, output_format):
    client = GeoReport(root, output_format=output_format)
    services = as_list(client.get_service_list())
    definition = client.get_service_definition("09006")
    attributes = definition["attributes"]
    if output_format == "xml":
        attributes = as_list(attributes["attribute"])
    requests = as_list(client.get_service_requests(status="open"))
    one = client.get_service_request(number)
    return {
        "services": len(services),
        "service_codes": sorted(s["service_code"] for s in services)[:3],
        "attribute": attributes[0]["code"],
        "open_requests": sorted(r["service_request_id"] for r in requests),
        "one": {"id": one["service_request_id"], "status": one["status"], "code": one["service_code"]},
    }


def main():
    root, number = sys.argv[1], sys.argv[2]
    print(json.dumps({fmt: read(root, number, fmt) for fmt in ("json", "xml")}, ensure_ascii=False))


if __name__ == "__main__":
    main()
