package dev.tollgate.proxy.agentapi;

import static dev.tollgate.proxy.agentapi.AgentApiNode.OTHER_KEY;
import static dev.tollgate.proxy.agentapi.AgentApiNode.PAYER;
import static dev.tollgate.proxy.agentapi.AgentApiNode.PAYER_KEY;
import static dev.tollgate.proxy.agentapi.AgentApiNode.PROVIDER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.testing.Await;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.McpSyncClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.spec.McpSchema;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * The MCP tools through the official MCP Java SDK's own client and its Streamable HTTP transport, against a real
 * Tollgate on loopback, authenticated with the agent's API key.
 */
class McpToolsTest {

    private static McpSyncClient client(AgentApiNode n, String key) {
        HttpClientStreamableHttpTransport transport = HttpClientStreamableHttpTransport.builder(n.origin())
                .endpoint("/mcp")
                .requestBuilder(HttpRequest.newBuilder().header("Authorization", "Bearer " + key))
                .build();
        return McpClient.sync(transport).requestTimeout(Duration.ofSeconds(20)).build();
    }

    private static McpSchema.CallToolResult call(McpSyncClient c, String tool, Map<String, Object> args) {
        return c.callTool(McpSchema.CallToolRequest.builder(tool).arguments(args).build());
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> out(McpSchema.CallToolResult r) {
        return (Map<String, Object>) r.structuredContent();
    }

    @Test
    void theToolsAreListedWithSchemasAndHints() throws Exception {
        try (AgentApiNode n = AgentApiNode.start(); McpSyncClient c = client(n, PAYER_KEY)) {
            McpSchema.InitializeResult init = c.initialize();
            assertEquals("tollgate", init.serverInfo().name());
            Map<String, McpSchema.Tool> tools = c.listTools().tools().stream()
                    .collect(Collectors.toMap(McpSchema.Tool::name, t -> t));
            assertEquals(java.util.Set.of("escrow_create", "escrow_release", "escrow_refund", "escrow_status",
                    "escrow_list", "balance_get", "usage_get"), tools.keySet());
            for (String reader : List.of("escrow_status", "escrow_list", "balance_get", "usage_get")) {
                assertEquals(Boolean.TRUE, tools.get(reader).annotations().readOnlyHint(), reader);
                assertEquals(Boolean.TRUE, tools.get(reader).annotations().idempotentHint(), reader);
            }
            for (String writer : List.of("escrow_create", "escrow_release", "escrow_refund")) {
                assertEquals(Boolean.FALSE, tools.get(writer).annotations().readOnlyHint(), writer);
                assertEquals(Boolean.FALSE, tools.get(writer).annotations().idempotentHint(), writer);
            }
            assertEquals(List.of("to_agent_id", "amount"), tools.get("escrow_create").inputSchema().get("required"));
        }
    }

    @Test
    void anAgentLocksReleasesPartReadsListsAndReleasesTheRestThroughMcp() throws Exception {
        try (AgentApiNode n = AgentApiNode.start(); McpSyncClient c = client(n, PAYER_KEY)) {
            c.initialize();
            McpSchema.CallToolResult created = call(c, "escrow_create", Map.of("to_agent_id", PROVIDER,
                    "amount", "5.00", "memo", "per_token", "auto_release_hours", 24));
            assertFalse(created.isError(), created.toString());
            String id = (String) out(created).get("escrow_id");
            assertEquals("locked", out(created).get("status"));
            assertTrue(((McpSchema.TextContent) created.content().get(0)).text().contains(id));

            McpSchema.CallToolResult part = call(c, "escrow_release", Map.of("escrow_id", id, "amount", "1.25"));
            assertEquals("1.250000", out(part).get("released"));
            McpSchema.CallToolResult status = call(c, "escrow_status", Map.of("escrow_id", id));
            assertEquals("3.750000", out(status).get("remaining"));
            assertEquals(1, ((List<?>) out(call(c, "escrow_list", Map.of())).get("escrows")).size());
            assertEquals("15.000000", out(call(c, "balance_get", Map.of())).get("available"));

            McpSchema.CallToolResult rest = call(c, "escrow_release", Map.of("escrow_id", id));
            assertEquals("released", out(rest).get("status"));
            assertEquals("5.000000", out(rest).get("released"));
            // The provider receives 5.00 less the 1% fee.
            assertEquals(4_950_000L, n.node.settlement().statement(PROVIDER).balanceMicros());
            assertEquals(15_000_000L, n.node.settlement().statement(PAYER).balanceMicros());

            McpSchema.CallToolResult again = call(c, "escrow_release", Map.of("escrow_id", id));
            assertTrue(again.isError());
            assertEquals("already_settled", ((Map<?, ?>) out(again).get("error")).get("code"));
        }
    }

    @Test
    void inputsAreCheckedAgainstTheSchemaAndKeysMakeWritesIdempotent() throws Exception {
        try (AgentApiNode n = AgentApiNode.start(); McpSyncClient c = client(n, PAYER_KEY)) {
            c.initialize();
            assertTrue(call(c, "escrow_create", Map.of("to_agent_id", PROVIDER, "amount", 1.5)).isError(),
                    "a binary float is not an amount");
            assertTrue(call(c, "escrow_create", Map.of("to_agent_id", PROVIDER, "amount", "1.0000001")).isError());
            assertTrue(call(c, "escrow_create", Map.of("amount", "1.00")).isError(), "to_agent_id is required");
            assertTrue(call(c, "escrow_status", Map.of("escrow_id", "x", "extra", 1)).isError());
            assertEquals("20.000000", out(call(c, "balance_get", Map.of())).get("available"), "nothing was locked");

            Map<String, Object> args = new HashMap<>(Map.of("to_agent_id", PROVIDER, "amount", "2.00",
                    "idempotency_key", "task-42"));
            String first = (String) out(call(c, "escrow_create", args)).get("escrow_id");
            String second = (String) out(call(c, "escrow_create", args)).get("escrow_id");
            assertEquals(first, second);
            assertEquals("18.000000", out(call(c, "balance_get", Map.of())).get("available"), "locked once");
            args.put("amount", "3.00");
            McpSchema.CallToolResult reused = call(c, "escrow_create", args);
            assertTrue(reused.isError());
            assertEquals("idempotency_key_reused", ((Map<?, ?>) out(reused).get("error")).get("code"));

            try (McpSyncClient other = client(n, OTHER_KEY)) {
                other.initialize();
                McpSchema.CallToolResult hidden = call(other, "escrow_status", Map.of("escrow_id", first));
                assertTrue(hidden.isError());
                assertEquals("not_found", ((Map<?, ?>) out(hidden).get("error")).get("code"));
            }
        }
    }

    @Test
    void aWrongKeyIsRefusedAndUsageIsTheCallersOwn() throws Exception {
        try (AgentApiNode n = AgentApiNode.start()) {
            try (McpSyncClient bad = client(n, "sk-wrong")) {
                assertThrows(RuntimeException.class, bad::initialize);
            }
            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<String> chat = http.send(HttpRequest.newBuilder(URI.create(n.origin()
                            + "/v1/chat/completions")).header("Authorization", "Bearer " + PAYER_KEY)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":"
                            + "\"user\",\"content\":\"hi\"}],\"max_tokens\":5}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, chat.statusCode());
            String requestId = chat.headers().firstValue("x-tollgate-request-id").orElseThrow();
            Await.value(() -> n.node.metering().find(requestId), Duration.ofSeconds(10), "usage record");
            try (McpSyncClient c = client(n, PAYER_KEY)) {
                c.initialize();
                Map<String, Object> usage = out(call(c, "usage_get", Map.of()));
                assertEquals(PAYER, usage.get("account"));
                assertEquals(1, ((Number) usage.get("requests")).intValue());
                assertEquals(5, ((Number) usage.get("completion_tokens")).intValue());
            }
            HttpResponse<String> get = http.send(HttpRequest.newBuilder(URI.create(n.origin() + "/mcp"))
                    .header("Authorization", "Bearer " + PAYER_KEY).GET().build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(405, get.statusCode(), "a stateless server opens no event stream");
            HttpResponse<String> garbage = http.send(HttpRequest.newBuilder(URI.create(n.origin() + "/mcp"))
                    .header("Authorization", "Bearer " + PAYER_KEY)
                    .header("Accept", "application/json, text/event-stream")
                    .POST(HttpRequest.BodyPublishers.ofString("{not json")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(400, garbage.statusCode());
            assertTrue(garbage.body().contains("-32700"), garbage.body());
            HttpResponse<String> noAccept = http.send(HttpRequest.newBuilder(URI.create(n.origin() + "/mcp"))
                    .header("Authorization", "Bearer " + PAYER_KEY).POST(HttpRequest.BodyPublishers.ofString(
                            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(400, noAccept.statusCode());
        }
    }
}
