// Pay4Feedback reference, "Quick start — Node", base URL and key swapped.
const P4F = process.env.P4F_API_KEY;
const BASE = process.env.RESONANZ_BASE + '/api/v1';
const id = process.env.RESPONSE_ID;

async function p4f(path, init = {}) {
const res = await fetch(BASE + path, {
...init,
headers: {
Authorization: `Bearer ${P4F}`,
'Content-Type': 'application/json',
...(init.headers ?? {}),
},
});
if (res.status === 429) {
const wait = Number(res.headers.get('Retry-After') ?? 30);
await new Promise(r => setTimeout(r, wait * 1000));
return p4f(path, init);
}
const body = await res.json();
if (!body.success) throw new Error(body.error);
return body.data;
}

// Usage:
const campaigns = await p4f('/campaigns');
const response = await p4f(`/responses/${id}`);
await p4f(`/responses/${id}/approve`, { method: 'POST' });
console.log(JSON.stringify({ campaigns: campaigns.length, response: response.id }));
