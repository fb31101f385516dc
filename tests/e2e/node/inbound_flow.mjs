// The official AutoSend Node SDK's inbound calls against a live Sendhouse; prints the results as JSON.
// AUTOSEND_BASE_URL (read by the SDK) points at the server; AUTOSEND_API_KEY is a project key.
import { Autosend } from "autosendjs";

const client = new Autosend(process.env.AUTOSEND_API_KEY, { maxRetries: 1, timeout: 20000 });
const out = {};
out.list = await client.inboundEmails.list({ limit: 10, search: "receipt" });
const id = out.list.data?.items?.[0]?.id;
out.get = await client.inboundEmails.get(id);
out.byIndex = await client.inboundEmails.getAttachmentDownloadUrl(id, 0);
out.byId = await client.inboundEmails.getAttachmentDownloadUrl(id, out.get.data?.attachments?.[0]?.attachmentId);
out.reply = await client.inboundEmails.reply(id, { from: { email: "support@example.com" }, text: "Thanks!" });
out.missing = await client.inboundEmails.get("0".repeat(24));
console.log(JSON.stringify(out));
