// Every resource through the official AutoSend Node SDK (autosendjs): its typed methods where it
// has them (emails, contacts, inboundEmails), its own HTTP client (`client.http`: the same auth,
// retries and error handling) for the resources it has no methods for. Prints one JSON object.
// AUTOSEND_BASE_URL (read by the SDK) points at the server; AUTOSEND_API_KEY is a project key.
import { Autosend } from "autosendjs";

const client = new Autosend(process.env.AUTOSEND_API_KEY, { maxRetries: 1, timeout: 20000 });
const http = client.http;
const domainId = process.env.COMPAT_DOMAIN_ID;
const sender = { email: "app@compat.example", name: "Compat" };
const out = {};

// mails
out.unverifiedSend = await client.emails.send({ from: { email: "app@unverified.example" },
  to: { email: "ann@example.org" }, subject: "x", html: "x" });
out.send = await client.emails.send({ from: sender, to: { email: "ann@example.org", name: "Ann" },
  subject: "Hello {{name}}", html: "<p>Hi {{name}}</p>", dynamicData: { name: "Ann" } });
out.bulk = await client.emails.bulk({ from: sender, subject: "Batch {{name}}", html: "<p>{{name}}</p>",
  dynamicData: { name: "friend" },
  recipients: [{ email: "b1@example.org", dynamicData: { name: "B1" } }, { email: "not-an-address" },
               { email: "b3@example.org", name: "B3", cc: [{ email: "boss@example.org" }] }] });
out.bulkNoneValid = await client.emails.bulk({ from: sender, subject: "x", html: "x",
  recipients: [{ email: "nope" }] });
out.badSend = await client.emails.send({ from: sender, to: { email: "not-an-address" }, subject: "x", html: "x" });
out.status = await http.get(`/mails/${out.send.data?.emailId}/status`);

// contacts
out.created = await client.contacts.create({ email: "carol@example.org", firstName: "Carol",
  customFields: { plan: "pro" } });
const contactId = out.created.data?.id;
out.createdAgain = await client.contacts.create({ email: "carol@example.org" });
out.got = await client.contacts.get(contactId);
out.upserted = await client.contacts.upsert({ email: "carol@example.org", lastName: "Jones" });
out.duplicated = await http.post("/contacts/email/duplicate",
  { sourceEmail: "carol@example.org", newEmail: "carol2@example.org" });
out.fields = await http.request("PATCH", "/contacts/email/carol%40example.org/custom-fields", { seats: 3 });
out.deleted = await client.contacts.delete(contactId);
out.afterDelete = await client.contacts.get(contactId);

// lists and segments
out.listCreated = await http.post("/contact-lists", { name: "Compat list" });
out.lists = await http.get("/contact-lists");
out.segments = await http.get("/contact-lists", { type: "segment" });

// templates
out.template = await http.post("/templates", { templateName: "Welcome", subject: "Hi", emailTemplate: "<p>Hi</p>" });
out.templateGot = await http.get(`/templates/${out.template.data?.templateId}`);

// senders and domains
out.unverifiedSender = await http.post("/senders", { email: "x@unverified.example" });
out.sender = await http.post("/senders", { email: "news@compat.example", name: "News" });
out.senders = await http.get("/senders");
out.domains = await http.get("/domains");

// campaigns
out.campaign = await http.post("/campaigns", { name: "Launch", subject: "Hi", htmlTemplate: "<p>Hi</p>",
  fromSenderId: out.sender.data?.sender?.id, toLists: [out.listCreated.data?.id], sendNow: true });
const campaignId = out.campaign.data?.id;
out.campaignGot = await http.get(`/campaigns/${campaignId}`);
out.campaigns = await http.get("/campaigns");
out.campaignDeleteRefused = await http.delete(`/campaigns/${campaignId}`);

// suppressions
out.groups = await http.get("/suppression-groups");
out.groupCreated = await http.post("/suppression-groups", { name: "News" });
out.suppressed = await http.post("/suppression-groups/emails/suppress", { emails: ["s@example.org"] });
out.suppressedGlobal = await http.post("/suppression-groups/emails/suppress",
  { emails: ["g@example.org"], isGlobal: true });
out.entriesAll = await http.post("/suppression-groups/entries/all", {});

// webhooks
out.webhook = await http.post("/webhooks", { url: "https://hooks.example.com/compat", events: ["email.sent"] });
out.webhooks = await http.get("/webhooks");
out.webhookDeleted = await http.delete(`/webhooks/${out.webhook.data?.webhook?.id}`);

// deleting the sending domain: its senders go, the scheduled campaign is paused
out.domainDeleted = await http.delete(`/domains/${domainId}`);
out.campaignAfterDomain = await http.get(`/campaigns/${campaignId}`);

// inbound mail (the inbox API)
out.inbound = await client.inboundEmails.list({ limit: 5 });

console.log(JSON.stringify(out));
