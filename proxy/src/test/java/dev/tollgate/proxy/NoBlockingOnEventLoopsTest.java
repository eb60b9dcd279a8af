package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.PaidSetup;
import dev.tollgate.testing.ProxyFixture;
import dev.tollgate.testing.RawSseUpstream;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The work that waits on a disk or burns milliseconds of CPU (database transactions, the tokenizer) never runs on
 * the event loops that serve connections: a paid request, the account's own view of it, a tokenizer estimate and
 * a /metrics scrape leave the event-loop counter at zero, while the same counter does catch a transaction started
 * on an event loop.
 */
class NoBlockingOnEventLoopsTest {

    @Test
    void paidRequestsAccountViewsEstimatesAndMetricsStayOffTheEventLoops() throws Exception {
        try (ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(), PaidSetup::apply)) {
            String body = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
                    + "\"max_tokens\":6}";
            HttpResponse<byte[]> paid = fx.post(fx.proxyOrigin(), "/v1/chat/completions", body,
                    "authorization", "Bearer " + PaidSetup.PAY_KEY);
            assertEquals(200, paid.statusCode());
            String id = paid.headers().firstValue("x-tollgate-request-id").orElseThrow();
            fx.record(id);
            assertEquals(200, fx.get(fx.proxyOrigin() + "/tollgate/v1/requests/" + id,
                    "authorization", "Bearer " + PaidSetup.PAY_KEY).statusCode());
            assertEquals(200, fx.get(fx.proxyOrigin() + "/tollgate/v1/usage",
                    "authorization", "Bearer " + PaidSetup.PAY_KEY).statusCode());
            HttpResponse<String> metrics = fx.get(fx.node.adminUrl() + "/metrics",
                    "authorization", "Bearer " + PaidSetup.ADMIN_TOKEN);
            assertEquals(200, metrics.statusCode());
            assertTrue(metrics.body().contains("tollgate_blocking_on_event_loop_total{work=\"database\"} 0"),
                    metrics.body());
            assertEquals(Map.of(), fx.node.eventLoops().hits());
        }
        try (RawSseUpstream noUsage = new RawSseUpstream(12);
             ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(), c -> c.withUpstreams(
                     List.of(new UpstreamConfig("third-party", noUsage.baseUrl(), null, null, false, "w"))))) {
            HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions",
                    "{\"model\":\"raw\",\"messages\":[{\"role\":\"user\",\"content\":\"hello world\"}],\"stream\":true}");
            UsageRecord rec = fx.record(r.headers().firstValue("x-tollgate-request-id").orElseThrow());
            assertEquals(UsageSource.ESTIMATED, rec.usageSource(), "the tokenizer did run");
            assertEquals(Map.of(), fx.node.eventLoops().hits());
        }
    }

    @Test
    void aTransactionStartedOnAnEventLoopIsCounted() throws Exception {
        ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(), PaidSetup::apply);
        try {
            fx.node.clientEventLoops().next().submit(() -> fx.node.settlement().statement(PaidSetup.PAYER)).get();
            fx.node.clientEventLoops().next().submit(() -> dev.tollgate.metering.tokens.TokenEstimator.standard()
                    .guardedBy(fx.node.eventLoops()).count("tokenized where it must not be")).get();
            fx.node.settlement().statement(PaidSetup.PAYER);
            assertEquals(Map.of("database", 1L, "tokenizer", 1L), fx.node.eventLoops().hits(),
                    "counted on the node's event loops, not on the test's own thread");
            HttpResponse<String> metrics = fx.get(fx.node.adminUrl() + "/metrics",
                    "authorization", "Bearer " + PaidSetup.ADMIN_TOKEN);
            assertTrue(metrics.body().contains("tollgate_blocking_on_event_loop_total{work=\"database\"} 1"),
                    metrics.body());
        } finally {
            AssertionErrorExpected.of(fx::close);
        }
    }

    /** The fixture fails a test whose node ran blocking work on an event loop; here that is the point. */
    private static final class AssertionErrorExpected {
        static void of(Runnable close) {
            try {
                close.run();
            } catch (AssertionError expected) {
                assertTrue(expected.getMessage().contains("database=1"), expected.getMessage());
                return;
            }
            throw new AssertionError("the fixture did not report the blocking work");
        }
    }
}
