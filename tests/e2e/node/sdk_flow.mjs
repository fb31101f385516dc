// Calls a live Sendhouse through the official AutoSend Node SDK and prints every result as JSON.
// AUTOSEND_BASE_URL (read by the SDK) points at the server; AUTOSEND_API_KEY is a project key.
import { Autosend } from "autosendjs";

const client = new Autosend(process.env.AUTOSEND_API_KEY, { maxRetries: 1, timeout: 20000 });
const sender = { email: "app@example.com", name: "Sendhouse E2E" };
const out = {};

out.send = await client.emails.send({
  from: sender,
  to: { email: "ann@example.org", name: "Ann" },
  cc: { email: "cc@example.org", name: "Cee" },
  subject: "Hello {{name}}",
  html: "<p>Hi {{name}}, your code is {{code}}</p>",
  dynamicData: { name: "Ann", code: 4711 },
  // not in the SDK's types, but it passes the options through as the JSON body
  attachments: [{ fileName: "receipt.txt", content: Buffer.from("paid in full\n").toString("base64"),
                  contentType: "text/plain" }],
});

out.bulk = await client.emails.bulk({
  from: sender,
  subject: "Batch for {{name}}",
  html: "<p>{{name}} is on {{plan}}</p>",
  dynamicData: { plan: "pro", name: "nobody" },
  recipients: [
    { email: "b1@example.org", name: "Bee One", dynamicData: { name: "B1" } },
    { email: "b2@example.org", dynamicData: { name: "B2", plan: "free" } },
  ],
});

out.badSend = await client.emails.send({ from: sender, to: { email: "not-an-address" }, subject: "x", html: "x" });

out.created = await client.contacts.create({ email: "carol@example.org", firstName: "Carol" });
const id = out.created.data?.id;
out.got = await client.contacts.get(id);
out.upserted = await client.contacts.upsert({ email: "carol@example.org", lastName: "Jones" });
out.deleted = await client.contacts.delete(id);
out.afterDelete = await client.contacts.get(id);

console.log(JSON.stringify(out));
