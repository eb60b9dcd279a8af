# The billing-patterns seed's PurpleFleaBilling client (shared/seeds/003), unchanged but for line breaks (the seed
# prints it on one line), run against Tollgate by SeedPythonClientTest: its base URL is pointed at Tollgate after
# construction, as a user would. Needs the 'requests' package (Debian: python3-requests).
import json
import sys

import requests


class PurpleFleaBilling:
    def __init__(self, api_key: str):
        self.base = "https://escrow.purpleflea.com/api/v1"
        self.h = {"Authorization": f"Bearer {api_key}"}

    def lock(self, to, amount, memo="", auto_hours=None):
        d = {"to_agent_id": to, "amount": amount, "memo": memo}
        if auto_hours:
            d["auto_release_hours"] = auto_hours
        return requests.post(f"{self.base}/escrow", headers=self.h, json=d).json()

    def release(self, eid, amount=None):
        ep = f"/{eid}/release-partial" if amount else f"/{eid}/release"
        body = {"amount": amount} if amount else {}
        return requests.post(f"{self.base}/escrow{ep}", headers=self.h, json=body).json()

    def status(self, eid):
        return requests.get(f"{self.base}/escrow/{eid}", headers=self.h).json()

    def refund(self, eid, amount=None):
        body = {"amount": amount} if amount else {}
        return requests.post(f"{self.base}/escrow/{eid}/refund", headers=self.h, json=body).json()


if __name__ == "__main__":
    base, key, provider = sys.argv[1], sys.argv[2], sys.argv[3]
    billing = PurpleFleaBilling(key)
    billing.base = base
    locked = billing.lock(provider, "10.00", "weekly_subscription", 168)
    eid = locked["escrow_id"]
    steps = [
        ("lock", locked),
        ("release_partial", billing.release(eid, "2.50")),
        ("status", billing.status(eid)),
        ("refund", billing.refund(eid)),
    ]
    second = billing.lock(provider, "3.00")
    steps.append(("lock_second", second))
    steps.append(("release_full", billing.release(second["escrow_id"])))
    print(json.dumps(dict(steps)))
