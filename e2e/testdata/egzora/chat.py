import json
import urllib.request
API_URL = "http://127.0.0.1:8000/v1/chat"
API_KEY = "your_developer_key_here"
headers = {
    "Authorization": f"Bearer {API_KEY}",
    "Content-Type": "application/json"
}
payload = {
    "agent_id": "your-agent-uuid-here",
    "message": "Compute the square root of 144 plus 56",
    "stream": False,
    "reasoning_enabled": True, # optional — overrides agent default
    "images": ["data:image/jpeg;base64,..."]
}
req = urllib.request.Request(API_URL, data=json.dumps(payload).encode('utf-8'), headers=headers, method="POST")
with urllib.request.urlopen(req) as res:
    response_data = json.loads(res.read().decode('utf-8'))
    print("Agent Response:", response_data["response"])
