// The SigV4 signing matrix through the AWS SDK for JavaScript v3 against a
// running riffle in enforce mode: one JSON line per case with the answer.
// Usage: node sigv4_matrix.mjs ENDPOINT AKID SECRET TEMP_AKID TEMP_SECRET TEMP_TOKEN EXPIRED_AKID EXPIRED_SECRET EXPIRED_TOKEN
import { KinesisClient, ListStreamsCommand } from "@aws-sdk/client-kinesis";

const [endpoint, akid, secret, tAkid, tSecret, tToken, xAkid, xSecret, xToken] = process.argv.slice(2);

async function run(name, { region = "us-east-1", accessKeyId = akid, secretAccessKey = secret, sessionToken, offsetMs = 0 } = {}) {
  const client = new KinesisClient({
    endpoint,
    region,
    maxAttempts: 1,
    systemClockOffset: offsetMs,
    credentials: { accessKeyId, secretAccessKey, sessionToken },
  });
  try {
    await client.send(new ListStreamsCommand({}));
    console.log(JSON.stringify({ case: name, status: 200, type: null, message: null }));
  } catch (e) {
    console.log(JSON.stringify({ case: name, status: e.$metadata?.httpStatusCode ?? 0, type: e.name, message: e.message }));
  }
}

await run("ok");
await run("wrong_secret", { secretAccessKey: secret + "x" });
await run("unknown_key", { accessKeyId: "AKIAUNKNOWNKEY000000" });
await run("wrong_region", { region: "us-west-1" });
await run("date_6_min_past", { offsetMs: -6 * 60 * 1000 });
await run("date_6_min_future", { offsetMs: 6 * 60 * 1000 });
await run("session_token_valid", { accessKeyId: tAkid, secretAccessKey: tSecret, sessionToken: tToken });
await run("session_token_expired", { accessKeyId: xAkid, secretAccessKey: xSecret, sessionToken: xToken });
