import json
import urllib.request
API_URL = "http://127.0.0.1:8000/v1/logs?limit=10"
API_KEY = "your_developer_key_here"
headers = {
    "Authorization": f"Bearer {API_KEY}",
    "Content-Type": "application/json"
}
req = urllib.request.Request(API_URL, headers=headers, method="GET")
with urllib.request.urlopen(req) as res:
    logs = json.loads(res.read().decode('utf-8'))
    for log in logs:
        print(f"Time: {log['created_at']} | Model: {log['model_id']} | Tokens: {log['input_tokens'] + log['output_tokens']}")
