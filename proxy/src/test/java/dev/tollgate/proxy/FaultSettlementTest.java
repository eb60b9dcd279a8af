package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.settle.SettlementView;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.Await;
import dev.tollgate.testing.PaidSetup;
import dev.tollgate.testing.ProxyFixture;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Every upstream fault on a paid request: the client's status, the outcome, and what the per-request escrow does
 * (full refund when nothing was served, the served tokens paid otherwise), with no connection left behind.
 */
class FaultSettlementTest {
    static ProxyFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = ProxyFixture.start(SimulatorConfig.defaults(),
                c -> PaidSetup.apply(c).withLimits(c.withDefaults().limits().withIdleTimeoutMillis(400)));
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "status:503, 503, upstream_error, refunded",
        "reset-before-headers, 502, upstream_error, refunded",
        "stall-before-headers, 504, upstream_timeout, refunded",
        "error-after:4, 200, stream_error, settled",
        "reset-after:3, 200, stream_error, settled",
        "stall-after:2, 200, upstream_timeout, settled"})
    void faultSettlesByWhatWasServed(String fault, int status, String outcome, String state) throws Exception {
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions",
                "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"" + fault + "\"}],"
                        + "\"max_tokens\":50,\"stream\":true}",
                "authorization", "Bearer " + PaidSetup.PAY_KEY, "x-sim-fault", fault);
        assertEquals(status, r.statusCode());
        String id = r.headers().firstValue("x-tollgate-request-id").orElseThrow();
        UsageRecord rec = fx.record(id);
        assertEquals(Outcome.fromWireName(outcome), rec.outcome());
        SettlementView v = Await.value(() -> {
            fx.node.settlement().settleNow();
            SettlementView s = fx.node.settlement().settlement(id).orElse(null);
            return s != null && (s.state().equals("settled") || s.state().equals("refunded")) ? s : null;
        }, Duration.ofSeconds(10), "settlement of " + fault);
        assertEquals(state, v.state());
        long cost = PaidSetup.cost(rec.promptTokens(), rec.completionTokens());
        if (state.equals("refunded")) {
            assertEquals(0, v.releasedMicros());
            assertEquals(v.reservedMicros(), v.refundedMicros());
        } else {
            assertTrue(rec.completionTokens() > 0);
            assertEquals(cost, v.releasedMicros(), "the served tokens are paid");
            assertEquals(v.reservedMicros() - cost, v.refundedMicros());
        }
        Await.until(() -> fx.node.upstreams().all().get(0).outstanding() == 0, Duration.ofSeconds(5),
                "no request left outstanding on the upstream");
        assertTrue(fx.node.settlement().conservation().holds());
    }
}
