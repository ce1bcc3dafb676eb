// The shopper's claim page: how to be paid a cash reward, or decline it. The link's token is
// in the fragment (#token=…), which browsers never send, and goes only into the two calls'
// bodies. No sign-in, no cookie, nothing from another origin.

const TEXT = {
  de: {
    title: "Ihre Belohnung", intro: (a) => `Vielen Dank für Ihr Feedback! Sie erhalten ${a}.`,
    how: "Wie möchten Sie das Geld erhalten?", sepa: "Überweisung auf mein Konto (SEPA)",
    paypal: "PayPal", iban: "IBAN", holder: "Kontoinhaber/in", paypalEmail: "PayPal-E-Mail-Adresse",
    submit: "Auszahlung anfordern", decline: "Belohnung ablehnen",
    confirmDecline: "Möchten Sie die Belohnung wirklich ablehnen?",
    claimed: (m) => `Danke! Wir zahlen an ${m} aus, sobald der Shop die Zahlung ausführt. Sie erhalten dann eine E-Mail.`,
    declined: "Sie haben die Belohnung abgelehnt. Vielen Dank für Ihr Feedback!",
    claim_not_found: "Dieser Link ist nicht gültig.",
    claim_used: "Dieser Link wurde bereits verwendet.",
    claim_expired: "Dieser Link ist abgelaufen. Bitte wenden Sie sich an den Shop.",
    failed: "Das hat nicht geklappt. Bitte versuchen Sie es gleich noch einmal.",
    until: (d) => `Der Link gilt bis zum ${d}.`,
  },
  en: {
    title: "Your reward", intro: (a) => `Thank you for your feedback! You receive ${a}.`,
    how: "How would you like to receive the money?", sepa: "Bank transfer to my account (SEPA)",
    paypal: "PayPal", iban: "IBAN", holder: "Account holder", paypalEmail: "PayPal email address",
    submit: "Request payout", decline: "Decline the reward",
    confirmDecline: "Do you really want to decline the reward?",
    claimed: (m) => `Thank you! We will pay to ${m} as soon as the shop makes the payment. You will get an email then.`,
    declined: "You have declined the reward. Thank you for your feedback!",
    claim_not_found: "This link is not valid.",
    claim_used: "This link has been used already.",
    claim_expired: "This link has expired. Please contact the shop.",
    failed: "That did not work. Please try again in a moment.",
    until: (d) => `The link works until ${d}.`,
  },
};

const $ = (id) => document.getElementById(id);
const main = document.querySelector("main");
const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
let lang = new URLSearchParams(location.search).get("lang") === "en" ? "en" : "de";
let t = TEXT[lang];

function setLanguage(next) {
  lang = next === "en" ? "en" : "de";
  t = TEXT[lang];
  document.documentElement.lang = lang;
  document.title = t.title;
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token, ...body }), credentials: "omit", cache: "no-store",
  });
  const answer = await response.json().catch(() => ({}));
  return { ok: response.ok, answer };
}

function money(amount, currency) {
  const value = Number(amount);
  return new Intl.NumberFormat(lang === "de" ? "de-DE" : "en-GB",
    { style: "currency", currency }).format(value);
}

function done(message) {
  $("claim").hidden = true;
  $("status").textContent = message;
  main.setAttribute("aria-busy", "false");
}

function refused(answer) {
  const code = answer && answer.error && answer.error.code;
  done(t[code] || t.failed);
}

function showFieldErrors(details) {
  for (const id of ["iban", "account_holder", "paypal_email"]) {
    $(id).removeAttribute("aria-invalid");
    $(`e-${id}`).textContent = "";
  }
  for (const d of details || []) {
    if (d.field && $(`e-${d.field}`)) {
      $(d.field).setAttribute("aria-invalid", "true");
      $(`e-${d.field}`).textContent = d.message;
    }
  }
}

function method() {
  return document.querySelector("input[name=method]:checked").value;
}

function render(claim) {
  setLanguage(claim.language);
  $("title").textContent = t.title;
  const until = new Date(claim.expires_at).toLocaleDateString(lang === "de" ? "de-DE" : "en-GB");
  $("intro").textContent = `${t.intro(money(claim.amount, claim.currency))} ${t.until(until)}`;
  $("how").textContent = t.how;
  $("m-sepa").textContent = t.sepa;
  $("m-paypal").textContent = t.paypal;
  $("l-iban").textContent = t.iban;
  $("l-holder").textContent = t.holder;
  $("l-paypal").textContent = t.paypalEmail;
  $("submit").textContent = t.submit;
  $("decline").textContent = t.decline;
  $("claim").hidden = false;
  main.setAttribute("aria-busy", "false");
}

async function answer(body) {
  main.setAttribute("aria-busy", "true");
  const { ok, answer: got } = await post("/public/claims/answer", body);
  if (ok) {
    done(got.status === "claimed" ? t.claimed(got.payee.account) : t.declined);
    return;
  }
  if (got.error && got.error.code === "validation_error") {
    showFieldErrors(got.error.details);
    main.setAttribute("aria-busy", "false");
    return;
  }
  refused(got);
}

document.addEventListener("change", (event) => {
  if (event.target.name !== "method") return;
  $("sepa-fields").hidden = method() !== "sepa";
  $("paypal-fields").hidden = method() !== "paypal";
});

$("claim").addEventListener("submit", (event) => {
  event.preventDefault();
  const body = method() === "sepa"
    ? { method: "sepa", iban: $("iban").value, account_holder: $("account_holder").value }
    : { method: "paypal", paypal_email: $("paypal_email").value };
  answer(body);
});

$("decline").addEventListener("click", () => {
  if (window.confirm(t.confirmDecline)) answer({ method: "decline" });
});

setLanguage(lang);
if (!token) {
  refused({ error: { code: "claim_not_found" } });
} else {
  post("/public/claims/lookup", {}).then(({ ok, answer: got }) => (ok ? render(got) : refused(got)),
    () => done(t.failed));
}
