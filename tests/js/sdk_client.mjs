#!/usr/bin/env node
// Drives the Worker through the official TypeScript MCP SDK (Client + StreamableHTTPClientTransport).
//
//   node tests/js/sdk_client.mjs <url> [--header Name=Value]...
//
// Connects (initialize handshake), lists tools, calls `orientation` and `get_flows {"limit": 2}`,
// and prints one JSON line: {protocolVersion, serverInfo, toolNames, orientationIsError, flows}.
// Any error is printed to stderr and the exit code is non-zero.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

function parseArgs(argv) {
  let url;
  const headers = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--header") {
      const spec = argv[++i];
      const eq = spec === undefined ? -1 : spec.indexOf("=");
      if (eq <= 0) throw new Error(`--header needs Name=Value, got ${JSON.stringify(spec)}`);
      headers[spec.slice(0, eq)] = spec.slice(eq + 1);
    } else if (arg.startsWith("--")) {
      throw new Error(`unknown option ${arg}`);
    } else if (url === undefined) {
      url = arg;
    } else {
      throw new Error(`unexpected argument ${JSON.stringify(arg)}`);
    }
  }
  if (url === undefined) throw new Error("usage: sdk_client.mjs <url> [--header Name=Value]...");
  return { url: new URL(url), headers };
}

async function main() {
  const { url, headers } = parseArgs(process.argv.slice(2));
  const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers } });
  const client = new Client({ name: "prefect-mcp-ts-sdk-test", version: "1.0.0" });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    const orientation = await client.callTool({ name: "orientation", arguments: {} });
    const flows = await client.callTool({ name: "get_flows", arguments: { limit: 2 } });
    if (flows.structuredContent === undefined) {
      throw new Error(`get_flows returned no structuredContent: ${JSON.stringify(flows)}`);
    }
    const report = {
      protocolVersion: transport.protocolVersion ?? null,
      serverInfo: client.getServerVersion() ?? null,
      toolNames: tools.map((tool) => tool.name),
      orientationIsError: orientation.isError === true,
      flows: flows.structuredContent,
    };
    process.stdout.write(JSON.stringify(report) + "\n");
  } finally {
    await client.close();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`sdk_client.mjs: ${error && error.stack ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
