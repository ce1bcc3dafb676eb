// FeedBackPro reference, "Node.js — Fetch Pending Feedback", base URL and key swapped.
const axios = require('axios');
const BASE = process.env.RESONANZ_BASE;
const KEY = process.env.RESONANZ_KEY;

async function getPendingFeedback() {
  const res = await axios.get(
    `${BASE}/v1/feedback`,
    {
      headers: {
        Authorization: `Bearer ${KEY}`
      },
      params: { status: 'pending', limit: 25, sort: 'created_at:desc' }
    }
  );
  console.log(`Found ${res.data.meta.total} pending entries`);
  res.data.data.forEach(entry => {
    console.log(`[${entry.id}] ${entry.rating}★ "${entry.body.substring(0, 60)}..."`);
  });
}

getPendingFeedback();
