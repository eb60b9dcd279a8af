package dev.tollgate.proxy.agentapi;

import static dev.tollgate.proxy.agentapi.AgentApiNode.PAYER;
import static dev.tollgate.proxy.agentapi.AgentApiNode.PAYER_KEY;
import static dev.tollgate.proxy.agentapi.AgentApiNode.PROVIDER;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import org.junit.jupiter.api.Test;

/**
 * Every new kind of movement (an agent's escrow lock, partial release, partial refund, full release; a per-call
 * payment) shows in the admin views an operator reads: the escrow, the request's settlement, each agent's
 * statement, and the ledger-wide conservation check. Expected figures by hand; fee 1% of what the payee gets.
 */
class AgentMovementsAdminTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();

    private JsonNode call(String method, String url, String key, String body) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url));
        if (key != null) {
            b.header("Authorization", "Bearer " + key).header("Content-Type", "application/json");
        }
        b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        return JSON.readTree(r.body());
    }

    @Test
    void adminViewsShowAgentEscrowsAndPerCallPayments() throws Exception {
        try (AgentApiNode n = AgentApiNode.start(s -> ((ObjectNode) s.with("accounts").with(PAYER))
                .put("policy", "per_call").put("call_price", "0.25"))) {
            String api = n.origin() + "/api/v1/escrow";
            String admin = "http://127.0.0.1:" + n.node.adminPort() + "/admin/v1";
            HttpResponse<String> chat = http.send(HttpRequest.newBuilder(URI.create(n.origin() + "/v1/completions"))
                    .header("Authorization", "Bearer " + PAYER_KEY).header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"tollgate-sim-1\",\"prompt\":\"hi\","
                            + "\"max_tokens\":4}")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, chat.statusCode());
            String requestId = chat.headers().firstValue("x-tollgate-request-id").orElseThrow();

            String id = call("POST", api, PAYER_KEY, "{\"to_agent_id\":\"" + PROVIDER + "\",\"amount\":\"5.00\"}")
                    .get("escrow_id").asText();
            call("POST", api + "/" + id + "/release-partial", PAYER_KEY, "{\"amount\":\"1.00\"}");
            call("POST", api + "/" + id + "/refund", PAYER_KEY, "{\"amount\":\"0.50\"}");
            call("POST", api + "/" + id + "/release", PAYER_KEY, "{}");

            JsonNode escrow = call("GET", admin + "/escrows/" + id, null, null);
            assertEquals(PAYER, escrow.get("payer").asText());
            assertEquals(5_000_000, escrow.get("locked_micros").asLong());
            assertEquals(4_500_000, escrow.get("released_micros").asLong());
            assertEquals(500_000, escrow.get("refunded_micros").asLong());
            assertEquals(0, escrow.get("remaining_micros").asLong());

            JsonNode settled = call("GET", admin + "/requests/" + requestId, null, null).get("settlement");
            assertEquals("per_call", settled.get("policy").asText());
            assertEquals("paid", settled.get("state").asText());
            assertEquals(250_000, settled.get("cost_micros").asLong());

            JsonNode payer = call("GET", admin + "/statement?agent=" + PAYER, null, null);
            assertEquals(15_250_000, payer.get("balance_micros").asLong(), "20.00 - 0.25 - 4.50");
            assertEquals(4_750_000, payer.get("spent_micros").asLong(), "the call and the escrow's releases");
            assertEquals(500_000, payer.get("refunded_micros").asLong(), "the partial refund");
            assertEquals(4_455_000, call("GET", admin + "/statement?agent=" + PROVIDER, null, null)
                    .get("balance_micros").asLong());
            assertEquals(247_500, call("GET", admin + "/statement?agent=worker-1", null, null)
                    .get("earned_micros").asLong());
            JsonNode conservation = call("GET", admin + "/statement", null, null);
            assertTrue(conservation.get("conserved").asBoolean(), conservation.toString());
            assertEquals(20_000_000 + 5_000_000, conservation.get("minted_micros").asLong(), "the two funded agents");
        }
    }
}
