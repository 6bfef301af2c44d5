import json
import urllib.request
API_URL = "http://127.0.0.1:8000/v1/agents"
API_KEY = "your_developer_key_here"
headers = {
    "Authorization": f"Bearer {API_KEY}",
    "Content-Type": "application/json"
}
req = urllib.request.Request(API_URL, headers=headers, method="GET")
with urllib.request.urlopen(req) as res:
    agents = json.loads(res.read().decode('utf-8'))
    for agent in agents:
        print(f"Agent Name: {agent['name']} | ID: {agent['id']}")
