package dev.tollgate.proxy.purpleflea;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.tollgate.cli.Main;
import dev.tollgate.proxy.config.ApiKeyConfig;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.proxy.http.ApiKeys;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.LeakCheckExtension;
import dev.tollgate.testing.ProxyFixture;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The Purple Flea backend's hooks in the proxy, end to end on loopback: a configuration error the service reports
 * turns the account's requests into 503 with an OpenAI-shaped error and makes {@code /readyz} say why; an
 * unanswered create shows in {@code /admin/v1/settle/pending} and {@code tollgate settle pending}, and is resolved
 * with {@code tollgate settle resolve}.
 */
@ExtendWith(LeakCheckExtension.class)
class PurpleFleaProxyTest {
    static final String KEY = "sk-pf";
    static final String PAYER = "ag_payer";
    static final String WORKER = "ag_worker";
    static final String CHAT = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
            + "\"max_tokens\":50}";
    static final ObjectMapper JSON = new ObjectMapper();
    ScriptedPurpleFlea pf;
    ProxyFixture fx;

    @BeforeEach
    void start() throws Exception {
        pf = new ScriptedPurpleFlea();
        fx = ProxyFixture.start(SimulatorConfig.defaults(), c -> {
            ObjectNode s = JSON.createObjectNode().put("backend", "purpleflea").put("purpleflea_url", pf.baseUrl())
                    .put("purpleflea_api_key", "pf-key");
            // 0.01 USDC per prompt token: every request costs more than the service's 0.10 minimum.
            s.putObject("prices").putObject("*").put("prompt_per_million", "10000").put("completion_per_million", "10000");
            s.putObject("accounts").putObject(PAYER).put("policy", "per_request");
            return c.withSettlement(s).withApiKeys(List.of(new ApiKeyConfig(ApiKeys.hash(KEY), PAYER)))
                    .withUpstreams(List.of(new UpstreamConfig("sim", c.upstreams().get(0).url(), null, null, true,
                            WORKER)));
        });
    }

    @AfterEach
    void stop() {
        fx.close();
        pf.close();
    }

    private HttpResponse<byte[]> chat() throws Exception {
        return fx.post(fx.proxyOrigin(), "/v1/chat/completions", CHAT, "authorization", "Bearer " + KEY);
    }

    @Test
    void aConfigurationErrorIsA503WithItsReasonAndReadyzSaysWhy() throws Exception {
        assertEquals(List.of("POST /escrow/release/esc_0000000000000000"), pf.calls, "the start-up key check");
        pf.onCreate = ScriptedPurpleFlea.OnCreate.COUNTERPARTY_NOT_FOUND;
        assertEquals(200, chat().statusCode(), "post-pay: the first request is served, then paid");
        HttpResponse<byte[]> refused = Await.value(() -> {
            try {
                HttpResponse<byte[]> r = chat();
                return r.statusCode() == 503 ? r : null;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, Duration.ofSeconds(10), "a 503 once the service refused the payment");
        JsonNode error = JSON.readTree(refused.body()).get("error");
        assertTrue(error.get("message").asText().startsWith("Settlement is misconfigured for account ag_payer paying "
                + "worker ag_worker: the escrow service answered counterparty_not_found"), error.toString());
        assertEquals("server_error", error.get("type").asText());
        assertTrue(error.has("param") && error.has("code"), error.toString());
        HttpResponse<String> ready = Await.value(() -> {
            try {
                HttpResponse<String> r = fx.get(fx.node.adminUrl() + "/readyz");
                return r.statusCode() == 503 ? r : null;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, Duration.ofSeconds(10), "/readyz not ready");
        JsonNode s = JSON.readTree(ready.body()).get("settlement");
        assertEquals("misconfigured", s.get("status").asText());
        assertEquals(PAYER, s.get("misconfigured").get(0).get("account").asText());
        assertEquals(WORKER, s.get("misconfigured").get(0).get("worker").asText());
        assertEquals("counterparty_not_found", s.get("misconfigured").get(0).get("code").asText());
        String metrics = fx.get(fx.node.adminUrl() + "/metrics").body();
        assertTrue(metrics.contains("tollgate_settlement_misconfigured_pairs 1"), metrics);
    }

    @Test
    void anUnansweredCreateIsListedAndResolvedFromTheCommandLine() throws Exception {
        pf.onCreate = ScriptedPurpleFlea.OnCreate.NO_ANSWER;
        assertEquals(200, chat().statusCode());
        JsonNode pending = Await.value(() -> {
            try {
                JsonNode j = JSON.readTree(fx.get(fx.node.adminUrl() + "/admin/v1/settle/pending").body());
                return j.get("operations").size() == 1 ? j : null;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, Duration.ofSeconds(10), "the unknown operation listed");
        JsonNode op = pending.get("operations").get(0);
        assertEquals("unknown", op.get("state").asText());
        assertEquals(PAYER, op.get("account").asText());
        assertEquals(WORKER, op.get("worker").asText());
        assertEquals(1, pending.get("health").get("unknown_operations").asLong());
        assertEquals(200, fx.get(fx.node.adminUrl() + "/readyz").statusCode(), "degraded, still ready");
        String opId = op.get("op_id").asText();

        String[] out = new String[1];
        assertEquals(0, cli(out, "settle", "pending", "--admin", fx.node.adminUrl()));
        assertTrue(out[0].contains(opId) && out[0].contains("unknown: 1 operation(s)"), out[0]);

        pf.onCreate = ScriptedPurpleFlea.OnCreate.FUNDED;
        assertEquals(1, cli(out, "settle", "resolve", opId, "--escrow-id", "esc_nope", "--admin", fx.node.adminUrl()),
                "an escrow the service does not know is refused");
        assertEquals(0, cli(out, "settle", "resolve", opId, "--not-created", "--admin", fx.node.adminUrl()));
        assertTrue(out[0].contains("is owed to ag_worker again"), out[0]);
        Await.until(() -> pf.calls.stream().anyMatch(c -> c.startsWith("POST /escrow/release/esc_0")
                        && !c.endsWith("esc_0000000000000000")), Duration.ofSeconds(10),
                "the amount paid by a new escrow");
        Await.until(() -> fx.node.settlement().remoteOperations().pending().isEmpty(), Duration.ofSeconds(10),
                "nothing pending");

        JsonNode statement = Await.value(() -> {
            try {
                JsonNode j = JSON.readTree(fx.get(fx.node.adminUrl() + "/admin/v1/statement?agent=" + PAYER).body());
                return j.get("pairs").size() == 1 && j.get("pairs").get(0).get("escrows").asLong() == 1 ? j : null;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, Duration.ofSeconds(10), "the statement shows the escrow");
        JsonNode pair = statement.get("pairs").get(0);
        assertEquals(WORKER, pair.get("worker").asText());
        long paid = pair.get("paid_micros").asLong();
        assertTrue(paid >= 100_000, pair.toString());
        assertEquals(pair.get("accrued_micros").asLong(), paid, "everything accrued was paid");
        assertEquals(0, pair.get("unknown_micros").asLong());
        assertEquals((paid + 50) / 100, pair.get("fee_micros").asLong(), "1% of the escrow, rounded half-up");
        assertEquals(0, cli(out, "ledger", "statement", "--data", fx.dataDir.toString(), "--json"));
        assertEquals(paid, JSON.readTree(out[0]).get("pairs").get(0).get("paid_micros").asLong(), out[0]);
    }

    private static int cli(String[] out, String... args) {
        PrintStream savedOut = System.out;
        PrintStream savedErr = System.err;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        try {
            PrintStream p = new PrintStream(buf, true, StandardCharsets.UTF_8);
            System.setOut(p);
            System.setErr(p);
            return Main.run(args);
        } finally {
            System.setOut(savedOut);
            System.setErr(savedErr);
            out[0] = buf.toString(StandardCharsets.UTF_8);
        }
    }
}
