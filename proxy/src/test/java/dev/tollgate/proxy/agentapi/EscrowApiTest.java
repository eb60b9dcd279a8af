package dev.tollgate.proxy.agentapi;

import static dev.tollgate.proxy.agentapi.AgentApiNode.OTHER;
import static dev.tollgate.proxy.agentapi.AgentApiNode.OTHER_KEY;
import static dev.tollgate.proxy.agentapi.AgentApiNode.PAYER;
import static dev.tollgate.proxy.agentapi.AgentApiNode.PAYER_KEY;
import static dev.tollgate.proxy.agentapi.AgentApiNode.PROVIDER;
import static dev.tollgate.proxy.agentapi.AgentApiNode.PROVIDER_KEY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.escrow.ledger.Statement;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The escrow REST API on the proxy's port, through real HTTP against a real Tollgate: the seed's own client,
 * idempotency keys across a restart, who may do what, amounts and errors, pagination. Expected money is
 * computed by hand: fee 1% of what the payee receives, no referrer.
 */
class EscrowApiTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newHttpClient();

    record Answer(int status, JsonNode body, HttpResponse<String> raw) {
    }

    private Answer send(String method, String url, String key, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer " + key)
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        if (body != null) {
            b.header("Content-Type", "application/json");
        }
        for (int i = 0; i + 1 < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        return new Answer(r.statusCode(), r.body().isEmpty() ? null : JSON.readTree(r.body()), r);
    }

    @Test
    void theSeedsBillingClientLocksReleasesPartReadsAndRefunds() throws Exception {
        try (AgentApiNode n = AgentApiNode.start()) {
            PurpleFleaBilling billing = new PurpleFleaBilling(PAYER_KEY, n.origin() + "/api/v1");
            JsonNode esc = billing.lock(PROVIDER, "10.00", "weekly_subscription", 168);
            String id = esc.get("escrow_id").asText();
            assertTrue(id.startsWith("esc_"), esc.toString());
            assertEquals("locked", esc.get("status").asText());
            assertEquals("10.000000", esc.get("amount").asText());
            assertEquals("10.000000", esc.get("remaining").asText());
            assertEquals(168, esc.get("auto_release_hours").asInt());

            JsonNode part = billing.release(id, "2.50");
            assertEquals("2.500000", part.get("released").asText());
            assertEquals("7.500000", part.get("remaining").asText());

            JsonNode status = billing.status(id);
            assertEquals("locked", status.get("status").asText());
            assertEquals("10.000000", status.get("amount").asText());
            assertEquals("2.500000", status.get("released").asText());
            assertEquals("0.000000", status.get("refunded").asText());
            assertEquals("7.500000", status.get("remaining").asText());
            assertTrue(status.hasNonNull("expires_at"));

            JsonNode refunded = billing.refund(id, null);
            assertEquals("settled", refunded.get("status").asText());
            assertEquals("7.500000", refunded.get("refunded").asText());
            assertEquals("0.000000", refunded.get("remaining").asText());

            // 20.00 funded - 2.50 paid; the provider gets 2.50 less the 1% fee (0.025).
            Statement payer = n.node.settlement().statement(PAYER);
            assertEquals(17_500_000L, payer.balanceMicros());
            assertEquals(0, payer.heldMicros());
            assertEquals(2_475_000L, n.node.settlement().statement(PROVIDER).balanceMicros());
            assertTrue(n.node.settlement().conservation().holds());

            // The seed's other release form: everything left, with an empty body.
            String second = billing.lock(PROVIDER, "3.00", "", null).get("escrow_id").asText();
            JsonNode full = billing.release(second, null);
            assertEquals("released", full.get("status").asText());
            assertEquals("3.000000", full.get("released").asText());
            assertEquals(14_500_000L, n.node.settlement().statement(PAYER).balanceMicros());
        }
    }

    @Test
    void anIdempotencyKeyAnswersTheFirstAnswerEvenAfterARestart() throws Exception {
        try (AgentApiNode n = AgentApiNode.start()) {
            String body = "{\"to_agent_id\":\"ag_provider\",\"amount\":\"4.00\",\"memo\":\"job-7\"}";
            Answer first = send("POST", n.origin() + "/api/v1/escrow", PAYER_KEY, body, "Idempotency-Key", "k-7");
            assertEquals(201, first.status(), first.raw().body());
            Answer again = send("POST", n.origin() + "/api/v1/escrow", PAYER_KEY, body, "Idempotency-Key", "k-7");
            assertEquals(201, again.status());
            assertEquals(first.body(), again.body());
            assertEquals("true", again.raw().headers().firstValue("idempotent-replayed").orElse(null));
            assertEquals(16_000_000L, n.node.settlement().statement(PAYER).balanceMicros(), "locked once");

            Answer otherBody = send("POST", n.origin() + "/api/v1/escrow", PAYER_KEY,
                    body.replace("4.00", "5.00"), "Idempotency-Key", "k-7");
            assertEquals(422, otherBody.status());
            assertEquals("idempotency_key_reused", otherBody.body().at("/error/code").asText());

            String id = first.body().get("escrow_id").asText();
            String releaseUrl = n.origin() + "/api/v1/escrow/" + id + "/release-partial";
            Answer rel = send("POST", releaseUrl, PAYER_KEY, "{\"amount\":\"1.00\"}", "Idempotency-Key", "r-1");
            assertEquals("1.000000", rel.body().get("released").asText());

            n.restart();
            Answer afterRestart = send("POST", n.origin() + "/api/v1/escrow", PAYER_KEY, body,
                    "Idempotency-Key", "k-7");
            assertEquals(201, afterRestart.status());
            assertEquals(id, afterRestart.body().get("escrow_id").asText());
            releaseUrl = n.origin() + "/api/v1/escrow/" + id + "/release-partial";
            Answer relAgain = send("POST", releaseUrl, PAYER_KEY, "{\"amount\":\"1.00\"}", "Idempotency-Key", "r-1");
            assertEquals("1.000000", relAgain.body().get("released").asText(), "the first answer, not a second release");
            Answer status = send("GET", n.origin() + "/api/v1/escrow/" + id, PAYER_KEY, null);
            assertEquals("1.000000", status.body().get("released").asText());
            assertEquals(16_000_000L, n.node.settlement().statement(PAYER).balanceMicros());
            // Without a key, a repeat is a new request.
            Answer noKey = send("POST", releaseUrl, PAYER_KEY, "{\"amount\":\"1.00\"}");
            assertEquals("2.000000", noKey.body().get("released").asText());
        }
    }

    @Test
    void onlyThePayerSettlesThePayeeReadsOthersSeeNothing() throws Exception {
        try (AgentApiNode n = AgentApiNode.start()) {
            Answer created = send("POST", n.origin() + "/api/v1/escrow", PAYER_KEY,
                    "{\"to_agent_id\":\"ag_provider\",\"amount\":\"2.00\"}");
            String url = n.origin() + "/api/v1/escrow/" + created.body().get("escrow_id").asText();
            assertEquals(200, send("GET", url, PROVIDER_KEY, null).status(), "the payee reads");
            Answer payeeRelease = send("POST", url + "/release", PROVIDER_KEY, "{}");
            assertEquals(403, payeeRelease.status());
            assertEquals("not_payer", payeeRelease.body().at("/error/code").asText());
            assertEquals(404, send("GET", url, OTHER_KEY, null).status());
            Answer otherRefund = send("POST", url + "/refund", OTHER_KEY, "{}");
            assertEquals(404, otherRefund.status());
            assertEquals("not_found", otherRefund.body().at("/error/code").asText());
            assertEquals(401, send("GET", url, "sk-unknown", null).status());

            assertEquals(1, send("GET", n.origin() + "/api/v1/escrow", PROVIDER_KEY, null).body().get("escrows")
                    .size(), "listed for the payee too");
            assertEquals(0, send("GET", n.origin() + "/api/v1/escrow?agent_id=" + OTHER, OTHER_KEY, null).body()
                    .get("escrows").size());
            assertEquals(404, send("GET", n.origin() + "/api/v1/escrow?agent_id=" + PAYER, OTHER_KEY, null).status());

            assertEquals(200, send("POST", url + "/refund", PAYER_KEY, "{}").status());
            Answer twice = send("POST", url + "/release", PAYER_KEY, "{}");
            assertEquals(409, twice.status());
            assertEquals("already_settled", twice.body().at("/error/code").asText());
            assertEquals(20_000_000L, n.node.settlement().statement(PAYER).balanceMicros());
        }
    }

    @Test
    void amountsAreExactDecimalsAndErrorsShareOneShape() throws Exception {
        try (AgentApiNode n = AgentApiNode.start()) {
            String create = n.origin() + "/api/v1/escrow";
            for (String bad : new String[] {"\"1.0000001\"", "\"-1\"", "\"abc\"", "\"1e3\"", "\"0\"", "true",
                    "\"\"", "\"99999999999999999999\"", "-2"}) {
                Answer a = send("POST", create, PAYER_KEY, "{\"to_agent_id\":\"ag_provider\",\"amount\":" + bad + "}");
                assertEquals(400, a.status(), bad);
                assertEquals("invalid_amount", a.body().at("/error/code").asText(), bad);
                assertEquals("amount", a.body().at("/error/param").asText(), bad);
                assertTrue(a.body().at("/error/message").isTextual());
            }
            assertEquals(400, send("POST", create, PAYER_KEY, "{\"to_agent_id\":\"ag_provider\",\"amount\":\"0.50\"}")
                    .status(), "below the minimum escrow (min_lock 1.00)");
            Answer poor = send("POST", create, OTHER_KEY, "{\"to_agent_id\":\"ag_provider\",\"amount\":\"5.000001\"}");
            assertEquals(402, poor.status());
            assertEquals("insufficient_balance", poor.body().at("/error/code").asText());
            // A JSON number is read exactly, never through a binary float.
            Answer exact = send("POST", create, OTHER_KEY, "{\"to_agent_id\":\"ag_provider\",\"amount\":1.000001}");
            assertEquals(201, exact.status(), exact.raw().body());
            assertEquals("1.000001", exact.body().get("amount").asText());
            String id = exact.body().get("escrow_id").asText();
            Answer over = send("POST", create + "/" + id + "/release-partial", OTHER_KEY, "{\"amount\":\"1.000002\"}");
            assertEquals(400, over.status());
            assertEquals("invalid_amount", over.body().at("/error/code").asText());
            Answer partRefund = send("POST", create + "/" + id + "/refund", OTHER_KEY, "{\"amount\":\"0.000001\"}");
            assertEquals("0.000001", partRefund.body().get("refunded").asText());
            assertEquals("locked", partRefund.body().get("status").asText());
            assertEquals(404, send("GET", create + "/esc_0000000000000000", OTHER_KEY, null).status());
            assertEquals(400, send("POST", create, OTHER_KEY, "{not json").status());
            assertEquals("invalid_request", send("POST", create, OTHER_KEY,
                    "{\"to_agent_id\":\"@fees\",\"amount\":\"1.00\"}").body().at("/error/code").asText(),
                    "system accounts cannot be paid");
            assertEquals(405, send("DELETE", create + "/" + id, OTHER_KEY, null).status());
            assertTrue(n.node.settlement().conservation().holds());
        }
    }

    @Test
    void concurrentPartialReleasesNeverReleaseMoreThanTheEscrowHolds() throws Exception {
        try (AgentApiNode n = AgentApiNode.start()) {
            String id = send("POST", n.origin() + "/api/v1/escrow", PAYER_KEY,
                    "{\"to_agent_id\":\"ag_provider\",\"amount\":\"10.00\"}").body().get("escrow_id").asText();
            URI url = URI.create(n.origin() + "/api/v1/escrow/" + id + "/release-partial");
            java.util.List<java.util.concurrent.CompletableFuture<HttpResponse<String>>> all = new java.util.ArrayList<>();
            for (int i = 0; i < 24; i++) {
                all.add(http.sendAsync(HttpRequest.newBuilder(url).header("Authorization", "Bearer " + PAYER_KEY)
                        .POST(HttpRequest.BodyPublishers.ofString("{\"amount\":\"1.00\"}")).build(),
                        HttpResponse.BodyHandlers.ofString()));
            }
            int ok = 0;
            int refused = 0;
            for (var f : all) {
                int st = f.get().statusCode();
                if (st == 200) {
                    ok++;
                } else if (st == 400 || st == 409) {
                    refused++;
                }
            }
            assertEquals(10, ok, "exactly what the escrow holds, one micro-USDC no more");
            assertEquals(14, refused);
            Answer status = send("GET", n.origin() + "/api/v1/escrow/" + id, PAYER_KEY, null);
            assertEquals("10.000000", status.body().get("released").asText());
            assertEquals("released", status.body().get("status").asText(), "closed when nothing is left");
            assertEquals(9_900_000L, n.node.settlement().statement(PROVIDER).balanceMicros());
            assertTrue(n.node.settlement().conservation().holds());
        }
    }

    @Test
    void pipelinedRequestsAreAnsweredInOrder() throws Exception {
        try (AgentApiNode n = AgentApiNode.start();
             java.net.Socket socket = new java.net.Socket("127.0.0.1", n.node.proxyPort())) {
            socket.setSoTimeout(20_000);
            String body = "{\"to_agent_id\":\"ag_provider\",\"amount\":\"1.00\"}";
            String auth = "Authorization: Bearer " + PAYER_KEY + "\r\n";
            String pipelined = "POST /api/v1/escrow HTTP/1.1\r\nHost: x\r\n" + auth
                    + "Content-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n" + body
                    + "GET /api/v1/escrow HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n"
                    + "GET /api/v1/balance HTTP/1.1\r\nHost: x\r\n" + auth + "Connection: close\r\n\r\n";
            socket.getOutputStream().write(pipelined.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            String all = new String(socket.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            int created = all.indexOf("HTTP/1.1 201");
            int listed = all.indexOf("\"escrows\":[{");
            int balance = all.indexOf("\"available\":\"19.000000\"");
            assertTrue(created >= 0 && listed > created && balance > listed, all);
        }
    }

    @Test
    void listingIsPaginatedNewestFirst() throws Exception {
        try (AgentApiNode n = AgentApiNode.start()) {
            Set<String> ids = new HashSet<>();
            for (int i = 0; i < 5; i++) {
                ids.add(send("POST", n.origin() + "/api/v1/escrow", PAYER_KEY,
                        "{\"to_agent_id\":\"ag_provider\",\"amount\":\"1.00\",\"memo\":\"m" + i + "\"}")
                        .body().get("escrow_id").asText());
            }
            Answer p1 = send("GET", n.origin() + "/api/v1/escrow?agent_id=" + PAYER + "&limit=2", PAYER_KEY, null);
            assertEquals(2, p1.body().get("escrows").size());
            assertEquals("m4", p1.body().at("/escrows/0/memo").asText());
            assertTrue(p1.body().get("has_more").asBoolean());
            Set<String> seen = new HashSet<>();
            p1.body().get("escrows").forEach(e -> seen.add(e.get("escrow_id").asText()));
            String cursor = p1.body().get("next_cursor").asText();
            Answer p2 = send("GET", n.origin() + "/api/v1/escrow?limit=2&cursor=" + cursor, PAYER_KEY, null);
            p2.body().get("escrows").forEach(e -> seen.add(e.get("escrow_id").asText()));
            Answer p3 = send("GET", n.origin() + "/api/v1/escrow?limit=2&cursor="
                    + p2.body().get("next_cursor").asText(), PAYER_KEY, null);
            assertEquals(1, p3.body().get("escrows").size());
            assertFalse(p3.body().get("has_more").asBoolean());
            p3.body().get("escrows").forEach(e -> seen.add(e.get("escrow_id").asText()));
            assertEquals(ids, seen);
            assertNotEquals(400, p3.status());
            assertEquals(400, send("GET", n.origin() + "/api/v1/escrow?limit=0", PAYER_KEY, null).status());
        }
    }
}
