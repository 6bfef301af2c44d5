import urllib.request
import json
API_URL = "http://127.0.0.1:8000/v1/chat"
API_KEY = "your_developer_key_here"
payload = {
    "agent_id": "your-agent-uuid-here",
    "message": "What are my external mysql metrics?",
    "stream": True,
    "reasoning_enabled": False # optional — disable thinking for this call
}
headers = {
    "Authorization": f"Bearer {API_KEY}",
    "Content-Type": "application/json"
}
req = urllib.request.Request(API_URL, data=json.dumps(payload).encode('utf-8'), headers=headers, method="POST")
with urllib.request.urlopen(req) as response:
    for line in response:
        decoded_line = line.decode('utf-8').strip()
        if decoded_line.startswith("data: "):
            data = json.loads(decoded_line[6:])
            if "chunk" in data:
                print(data["chunk"], end="", flush=True)
