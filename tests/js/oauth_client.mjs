#!/usr/bin/env node
// The official TypeScript MCP SDK's OAuth client (an OAuthClientProvider given to
// StreamableHTTPClientTransport) against the Worker, headless:
//
//   node tests/js/oauth_client.mjs <mcp url> <consent field>=<value>...
//
// The SDK discovers the authorization server from the 401, registers a client and sends "the
// browser" to the consent page; here the redirect fills the page's form with the given fields
// and reads the code from the redirect, which the SDK then redeems (PKCE) before reconnecting.
// Prints one JSON line: {toolNames, flows, consents, tokenType, hasRefreshToken}. Errors go to stderr
// with a non-zero exit code.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";

const REDIRECT_URL = "http://127.0.0.1:8976/callback";
const ENTITIES = { "&amp;": "&", "&quot;": '"', "&#39;": "'", "&#x27;": "'", "&lt;": "<", "&gt;": ">" };

function attributes(tag) {
  const found = {};
  for (const [, name, value] of tag.matchAll(/([\w-]+)="([^"]*)"/g)) {
    found[name] = value.replace(/&(amp|quot|#39|#x27|lt|gt);/g, (entity) => ENTITIES[entity]);
  }
  return found;
}

// The consent form that has an input for every field, with its hidden inputs filled in.
function consentForm(html, fields) {
  for (const [, form] of html.matchAll(/<form\b[^>]*>([\s\S]*?)<\/form>/g)) {
    const inputs = [...form.matchAll(/<input\b[^>]*>/g)].map(([tag]) => attributes(tag));
    const names = new Set(inputs.map((input) => input.name));
    if (Object.keys(fields).every((name) => names.has(name))) {
      const hidden = inputs.filter((input) => input.type === "hidden").map((input) => [input.name, input.value]);
      return new URLSearchParams([...hidden, ...Object.entries(fields)]);
    }
  }
  throw new Error(`no consent form with inputs ${Object.keys(fields)}:\n${html.slice(0, 2000)}`);
}

class HeadlessProvider {
  constructor(fields) {
    this.fields = fields;
    this.consents = 0;
    this.code = undefined;
  }
  get redirectUrl() {
    return REDIRECT_URL;
  }
  get clientMetadata() {
    return {
      redirect_uris: [REDIRECT_URL], client_name: "TypeScript SDK test client", token_endpoint_auth_method: "none",
      grant_types: ["authorization_code", "refresh_token"], response_types: ["code"],
    };
  }
  clientInformation() { return this.client; }
  saveClientInformation(client) { this.client = client; }
  tokens() { return this.savedTokens; }
  saveTokens(tokens) { this.savedTokens = tokens; }
  saveCodeVerifier(verifier) { this.verifier = verifier; }
  codeVerifier() { return this.verifier; }

  async redirectToAuthorization(authorizationUrl) {
    const page = await fetch(authorizationUrl);
    if (page.status !== 200) throw new Error(`consent page answered ${page.status}: ${await page.text()}`);
    const body = consentForm(await page.text(), this.fields);
    const answer = await fetch(new URL("/authorize", authorizationUrl), { method: "POST", body, redirect: "manual" });
    const location = answer.headers.get("location");
    if (!location) throw new Error(`consent answered ${answer.status} without a redirect: ${await answer.text()}`);
    const redirect = new URL(location);
    if (`${redirect.origin}${redirect.pathname}` !== REDIRECT_URL) throw new Error(`redirected to ${location}`);
    if (redirect.searchParams.get("state") !== authorizationUrl.searchParams.get("state")) {
      throw new Error(`state changed on the way back: ${location}`);
    }
    this.code = redirect.searchParams.get("code");
    this.consents += 1;
  }
}

async function connect(url, provider) {
  const client = new Client({ name: "prefect-mcp-ts-oauth-test", version: "1.0.0" });
  try {
    await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
    return client;
  } catch (error) {
    if (!(error instanceof UnauthorizedError) || !provider.code) throw error;
  }
  // The person came back from the consent page: redeem the code, then connect with the token.
  await new StreamableHTTPClientTransport(url, { authProvider: provider }).finishAuth(provider.code);
  await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
  return client;
}

async function main() {
  const [url, ...specs] = process.argv.slice(2);
  if (!url || specs.length === 0) throw new Error("usage: oauth_client.mjs <mcp url> <field>=<value>...");
  const fields = Object.fromEntries(specs.map((spec) => [spec.slice(0, spec.indexOf("=")), spec.slice(spec.indexOf("=") + 1)]));
  const provider = new HeadlessProvider(fields);
  const client = await connect(new URL(url), provider);
  try {
    const { tools } = await client.listTools();
    const flows = await client.callTool({ name: "get_flows", arguments: { limit: 2 } });
    if (flows.isError || flows.structuredContent === undefined) throw new Error(`get_flows: ${JSON.stringify(flows)}`);
    const report = {
      toolNames: tools.map((tool) => tool.name),
      flows: flows.structuredContent.flows.map((flow) => flow.id),
      consents: provider.consents,
      tokenType: provider.savedTokens?.token_type ?? null,
      hasRefreshToken: Boolean(provider.savedTokens?.refresh_token),
    };
    process.stdout.write(JSON.stringify(report) + "\n");
  } finally {
    await client.close();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${error?.stack ?? error}\n`);
    process.exit(1);
  },
);
