import json
import urllib.request
API_URL = "http://127.0.0.1:8000/v1/auth/profile"
API_KEY = "your_developer_key_here"
headers = {
    "Authorization": f"Bearer {API_KEY}",
    "Content-Type": "application/json"
}
req = urllib.request.Request(API_URL, headers=headers, method="GET")
with urllib.request.urlopen(req) as res:
    profile = json.loads(res.read().decode('utf-8'))
    print("Email:", profile["email"])
    print("Subscription Tier:", profile["subscription_tier"])
    print("Remaining Tokens:", profile["remaining_monthly_tokens"])
