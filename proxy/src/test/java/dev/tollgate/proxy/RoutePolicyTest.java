package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.escrow.ledger.Statement;
import dev.tollgate.escrow.settle.SettlementView;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.proxy.config.ApiKeyConfig;
import dev.tollgate.proxy.config.ProxyConfig;
import dev.tollgate.proxy.http.ApiKeys;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.PaidSetup;
import dev.tollgate.testing.ProxyFixture;
import dev.tollgate.testing.RawHttp;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every route that makes the upstream generate is metered or refused: non-canonical spellings of a metered
 * path are metered (or refused with 400), never forwarded unmetered; a paid account's unknown route is
 * refused with 403 before the upstream; a {@code none} account passes; a route priced per request is
 * charged exactly its price; the request's worst case is checked; targets that are not paths are answered
 * locally.
 */
class RoutePolicyTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String AUDIO_KEY = "sk-audio";
    private static final String AUDIO_PAYER = "ag_audio";
    private static final String FREE_KEY = "sk-free";
    private static final String FREE = "ag_free";
    static ProxyFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = ProxyFixture.start(SimulatorConfig.defaults(), RoutePolicyTest::config);
    }

    private static ProxyConfig config(ProxyConfig c) {
        ProxyConfig p = PaidSetup.apply(c);
        ObjectNode s = (ObjectNode) p.settlement();
        s.with("prices").putObject("/v1/audio/transcriptions").put("per_request", "0.25");
        s.with("accounts").putObject(AUDIO_PAYER).put("policy", "per_request").put("fund", "1.00");
        s.with("accounts").putObject(FREE).put("policy", "none");
        List<ApiKeyConfig> keys = new ArrayList<>(p.apiKeys());
        keys.add(new ApiKeyConfig(ApiKeys.hash(AUDIO_KEY), AUDIO_PAYER));
        keys.add(new ApiKeyConfig(ApiKeys.hash(FREE_KEY), FREE));
        return p.withSettlement(s).withApiKeys(keys);
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    private static JsonNode error(String body) throws Exception {
        JsonNode e = JSON.readTree(body).get("error");
        assertTrue(e != null && e.get("message").isTextual() && e.has("type") && e.has("param") && e.has("code"), body);
        return e;
    }

    private static SettlementView settled(String id) {
        return Await.value(() -> {
            fx.node.settlement().settleNow();
            SettlementView v = fx.node.settlement().settlement(id).orElse(null);
            return v != null && (v.state().equals("settled") || v.state().equals("refunded")
                    || v.state().equals("released")) ? v : null;
        }, Duration.ofSeconds(10), "settlement of " + id);
    }

    private static String chat(String words) {
        return "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"" + words + "\"}],"
                + "\"max_tokens\":7}";
    }

    @Test
    void nonCanonicalSpellingsAreMeteredOrRefusedNeverForwardedUnmetered() throws Exception {
        String[] metered = {"/v1/chat/%63ompletions", "/v1//chat/completions", "/v1/./chat/completions",
                "/v1/chat/completions/", "/v1/x/../chat/completions", "/v1/%2e/chat/completions",
                "//v1/chat/completions//", "/v1/chat/completions?x=1", "/v1/%63hat/c%6Fmpletions/."};
        String[] refused = {"/v1/chat%2Fcompletions", "/v1/../../v1/chat/completions", "/v1\\chat/completions",
                "/v1/chat/completions%00", "/v1/chat/%6", "/v1/chat/completions%ZZ"};
        int n = 0;
        for (String target : metered) {
            long served = fx.simulator.requestsServed();
            RawHttp.Response r = RawHttp.send(fx.node.baseUrl(), "POST", target, chat("spelling number " + n++),
                    "Authorization: Bearer " + PaidSetup.PAY_KEY);
            assertEquals(200, r.status(), target + ": " + r.body());
            JsonNode usage = JSON.readTree(r.body()).get("usage");
            String id = r.header("x-tollgate-request-id");
            UsageRecord rec = fx.record(id);
            assertEquals(usage.get("prompt_tokens").asLong(), rec.promptTokens(), target);
            assertEquals(usage.get("completion_tokens").asLong(), rec.completionTokens(), target);
            assertEquals(Route.CHAT_COMPLETIONS, rec.route(), target);
            assertEquals(PaidSetup.PAYER, rec.account(), target);
            SettlementView v = settled(id);
            long cost = PaidSetup.cost(rec.promptTokens(), rec.completionTokens());
            assertTrue(cost > 0);
            assertEquals(cost, v.costMicros(), target);
            assertEquals(cost, v.releasedMicros(), target);
            assertEquals(served + 1, fx.simulator.requestsServed(), target);
        }
        for (String target : refused) {
            long served = fx.simulator.requestsServed();
            RawHttp.Response r = RawHttp.send(fx.node.baseUrl(), "POST", target, chat("refused"),
                    "Authorization: Bearer " + PaidSetup.PAY_KEY);
            assertEquals(400, r.status(), target + ": " + r.body());
            assertEquals("invalid_path", error(r.body()).get("code").asText(), target);
            assertEquals(served, fx.simulator.requestsServed(), target);
        }
    }

    @Test
    void paidAccountsAreRefusedUnmeteredRoutesWithoutAnUpstreamCall() throws Exception {
        long served = fx.simulator.requestsServed();
        for (String key : new String[] {PaidSetup.PAY_KEY, PaidSetup.STREAM_KEY}) {
            for (String path : new String[] {"/pooling", "/v1/rerank", "/v1/audio/translations", "/v1/responses/x/cancel",
                    "/invocations", "/v1/unknown"}) {
                HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), path, "{\"model\":\"m\",\"input\":\"x\"}",
                        "authorization", "Bearer " + key);
                assertEquals(403, r.statusCode(), path);
                JsonNode e = error(new String(r.body(), StandardCharsets.UTF_8));
                assertEquals("permission_error", e.get("type").asText());
                assertEquals("unmetered_route", e.get("code").asText());
                assertTrue(e.get("message").asText().contains(path), e.toString());
                assertTrue(e.get("message").asText().contains("unmetered_routes"), e.toString());
            }
        }
        // Another method on a metered path is not metered either.
        RawHttp.Response put = RawHttp.send(fx.node.baseUrl(), "PUT", "/v1/chat/completions", chat("put"),
                "Authorization: Bearer " + PaidSetup.PAY_KEY);
        assertEquals(403, put.status());
        assertEquals(served, fx.simulator.requestsServed());
    }

    @Test
    void freeRoutesAndNoneAccountsPass() throws Exception {
        long served = fx.simulator.requestsServed();
        HttpResponse<byte[]> pooling = fx.post(fx.proxyOrigin(), "/pooling", "{\"model\":\"m\",\"input\":\"x\"}",
                "authorization", "Bearer " + FREE_KEY);
        // The simulator does not serve /pooling: its own 404 shows the request reached it, at the upstream's
        // root beside /v1 (where vLLM serves it), not under /v1.
        assertEquals(404, pooling.statusCode());
        assertTrue(new String(pooling.body(), StandardCharsets.UTF_8).contains("Not Found: /pooling"),
                new String(pooling.body(), StandardCharsets.UTF_8));
        assertEquals(served + 1, fx.simulator.requestsServed());
        HttpResponse<String> models = fx.get(fx.proxyOrigin() + "/v1/models", "authorization", "Bearer " + PaidSetup.PAY_KEY);
        assertEquals(200, models.statusCode());
        HttpResponse<byte[]> tokenize = fx.post(fx.proxyOrigin(), "/tokenize", "{\"prompt\":\"x\"}",
                "authorization", "Bearer " + PaidSetup.PAY_KEY);
        assertEquals(404, tokenize.statusCode());
        assertEquals(served + 3, fx.simulator.requestsServed());
    }

    @Test
    void aRoutePricedPerRequestIsChargedExactlyItsPrice() throws Exception {
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/audio/transcriptions", "not json: audio bytes",
                "authorization", "Bearer " + AUDIO_KEY);
        assertEquals(200, r.statusCode());
        String id = r.headers().firstValue("x-tollgate-request-id").orElseThrow();
        UsageRecord rec = fx.record(id);
        assertEquals(Route.PER_REQUEST, rec.route());
        assertEquals("/v1/audio/transcriptions", rec.model());
        assertEquals(0, rec.maxTokens());
        SettlementView v = settled(id);
        assertEquals(250_000, v.reservedMicros());
        assertEquals(250_000, v.costMicros());
        assertEquals(250_000, v.releasedMicros());
        // A non-canonical spelling of the same path is the same priced route.
        RawHttp.Response raw = RawHttp.send(fx.node.baseUrl(), "POST", "/v1/audio//./transcriptions/", "audio",
                "Authorization: Bearer " + AUDIO_KEY);
        assertEquals(200, raw.status());
        assertEquals(250_000, settled(raw.header("x-tollgate-request-id")).releasedMicros());
        Statement st = fx.node.settlement().ledger().statement(AUDIO_PAYER);
        assertEquals(500_000, st.spentMicros());
        assertEquals(500_000, st.balanceMicros());
        assertEquals(0, st.heldMicros());
        assertTrue(fx.node.settlement().conservation().holds());
    }

    @Test
    void paidResponsesRequestPaysItsMeteredCost() throws Exception {
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/responses",
                "{\"model\":\"tollgate-sim-1\",\"input\":[{\"role\":\"user\",\"content\":\"price this answer\"}],"
                        + "\"max_output_tokens\":9}", "authorization", "Bearer " + PaidSetup.PAY_KEY);
        assertEquals(200, r.statusCode());
        JsonNode usage = JSON.readTree(r.body()).get("usage");
        String id = r.headers().firstValue("x-tollgate-request-id").orElseThrow();
        SettlementView v = settled(id);
        long cost = PaidSetup.cost(usage.get("input_tokens").asLong(), usage.get("output_tokens").asLong());
        assertEquals(cost, v.costMicros());
        assertEquals(cost, v.releasedMicros());
        assertEquals(v.reservedMicros() - cost, v.refundedMicros());
    }

    @Test
    void theWorstCaseIsCheckedWithTheParam() throws Exception {
        long served = fx.simulator.requestsServed();
        String[][] cases = {
                {"/v1/chat/completions", "\"messages\":[],\"max_tokens\":1e15", "max_tokens"},
                {"/v1/chat/completions", "\"messages\":[],\"max_tokens\":20000000,\"n\":1000", "n"},
                {"/v1/completions", "\"prompt\":\"x\",\"max_tokens\":20000000,\"best_of\":1000,\"n\":2", "best_of"},
                {"/v1/chat/completions", "\"messages\":[],\"max_completion_tokens\":1.5", "max_completion_tokens"},
                {"/v1/chat/completions", "\"messages\":[],\"max_completion_tokens\":100000000000", "max_completion_tokens"},
                {"/v1/completions", "\"prompt\":\"x\",\"best_of\":0", "best_of"},
                {"/v1/chat/completions", "\"messages\":[],\"n\":\"2\"", "n"},
                {"/v1/responses", "\"input\":\"x\",\"max_output_tokens\":-1", "max_output_tokens"},
                {"/v1/responses", "\"input\":7", "input"},
        };
        for (String[] c : cases) {
            HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), c[0], "{\"model\":\"tollgate-sim-1\"," + c[1] + "}",
                    "authorization", "Bearer " + PaidSetup.PAY_KEY);
            assertEquals(400, r.statusCode(), c[1]);
            assertEquals(c[2], error(new String(r.body(), StandardCharsets.UTF_8)).get("param").asText(), c[1]);
        }
        assertEquals(served, fx.simulator.requestsServed());
        // max_completion_tokens wins over max_tokens (as in vLLM), for each of n choices.
        HttpResponse<byte[]> ok = fx.post(fx.proxyOrigin(), "/v1/chat/completions",
                "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"two short answers\"}],"
                        + "\"max_completion_tokens\":5,\"max_tokens\":50,\"n\":2}",
                "authorization", "Bearer " + FREE_KEY);
        assertEquals(200, ok.statusCode());
        UsageRecord rec = fx.record(ok.headers().firstValue("x-tollgate-request-id").orElseThrow());
        assertEquals(5, rec.maxTokens());
        assertEquals(10, rec.completionTokens());
    }

    @Test
    void targetsThatAreNotPathsAreAnsweredLocally() throws Exception {
        long served = fx.simulator.requestsServed();
        String origin = fx.proxyOrigin();
        RawHttp.Response abs = RawHttp.send(fx.node.baseUrl(), "POST", origin + "/v1/chat/completions", chat("abs"),
                "Authorization: Bearer " + PaidSetup.PAY_KEY);
        assertEquals(400, abs.status());
        assertEquals("invalid_request_target", error(abs.body()).get("code").asText());
        String authority = origin.substring("http://".length());
        RawHttp.Response connect = RawHttp.send(fx.node.baseUrl(), "CONNECT", authority, null,
                "Authorization: Bearer " + PaidSetup.PAY_KEY);
        assertEquals(405, connect.status());
        error(connect.body());
        RawHttp.Response star = RawHttp.send(fx.node.baseUrl(), "OPTIONS", "*", null);
        assertEquals(405, star.status());
        assertEquals("GET, HEAD, POST", star.header("allow"));
        assertEquals(served, fx.simulator.requestsServed());
    }
}
