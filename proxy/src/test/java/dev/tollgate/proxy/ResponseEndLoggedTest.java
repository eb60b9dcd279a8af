package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.escrow.db.AppendLog;
import dev.tollgate.escrow.settle.SettlementView;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.proxy.http.OpenAiError;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.PaidSetup;
import dev.tollgate.testing.ProxyFixture;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * The promise a paid response's end carries, whichever thread appended its record (the event loop ending the
 * response, or the metering thread when the loop cannot append without waiting): a client that has the whole
 * response finds the request's record in the usage log at that moment, and the record settles once; and a paid
 * response's end does not wait for the metering thread when its loop can append the record itself.
 */
class ResponseEndLoggedTest {
    static final String CHAT = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"hello there\"}],\"max_tokens\":16";
    static final String JSON_BODY = CHAT + "}";
    static final String STREAM_BODY = CHAT + ",\"stream\":true}";

    /** The raw payloads of every entry in the node's usage log, read as another process would. */
    static List<String> logged(ProxyFixture fx) {
        List<String> out = new ArrayList<>();
        AppendLog.read(fx.dataDir.resolve("usage-log"), -1, (seq, payload) -> {
            byte[] b = new byte[payload.remaining()];
            payload.get(b);
            out.add(new String(b, StandardCharsets.ISO_8859_1));
        });
        return out;
    }

    @Test
    void everyPaidResponseReceivedInFullHasItsRecordInTheUsageLogAlreadyAndSettlesOnce() throws Exception {
        try (ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(), PaidSetup::apply)) {
            List<String> ids = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                boolean stream = i % 4 == 3;
                HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions",
                        stream ? STREAM_BODY : JSON_BODY, "authorization", "Bearer " + PaidSetup.PAY_KEY);
                assertEquals(200, r.statusCode());
                String body = new String(r.body(), StandardCharsets.UTF_8);
                assertTrue(stream ? body.endsWith("data: [DONE]\n\n") : body.endsWith("}"),
                        "received in full: " + body);
                String id = r.headers().firstValue(OpenAiError.REQUEST_ID_HEADER).orElseThrow();
                // Read right after the response, before anything else happens: "received in full" implies "logged".
                assertTrue(logged(fx).stream().anyMatch(e -> e.contains(id)), "request " + id + " is in the usage log");
                ids.add(id);
            }
            fx.node.settlement().awaitJournaled();
            for (String id : ids) {
                UsageRecord rec = fx.record(id);
                assertNotNull(fx.node.settlement().usage(id), "journaled");
                SettlementView v = fx.node.settlement().settlement(id).orElseThrow();
                assertEquals("settled", v.state());
                long cost = PaidSetup.cost(rec.promptTokens(), rec.completionTokens());
                assertEquals(cost, v.costMicros());
                assertEquals(cost, v.releasedMicros(), "the metered cost released once");
                assertEquals(v.reservedMicros() - cost, v.refundedMicros(), "the rest of the hold refunded");
            }
        }
    }

    @Test
    void paidResponsesEndWhileTheMeteringThreadIsHeldUp() throws Exception {
        try (ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(), PaidSetup::apply)) {
            CountDownLatch held = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            AtomicBoolean armed = new AtomicBoolean();
            try {
                // The first response opens the usage log's first segment (the metering thread does that).
                assertEquals(200, pay(fx, JSON_BODY).statusCode());
                // A listener that holds the metering thread at its next turn (an admission asks it to run).
                fx.node.metering().addListener(batch -> {
                    if (armed.getAndSet(false)) {
                        held.countDown();
                        try {
                            release.await(60, TimeUnit.SECONDS);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                });
                armed.set(true);
                List<String> ids = new ArrayList<>();
                ids.add(requestId(pay(fx, JSON_BODY)));
                assertTrue(held.await(10, TimeUnit.SECONDS), "the metering thread is held");
                for (int i = 0; i < 6; i++) {
                    // Each answer must arrive (the client gives up after 30 s; the thread is held for 60).
                    HttpResponse<byte[]> r = pay(fx, i % 2 == 0 ? JSON_BODY : STREAM_BODY);
                    assertEquals(200, r.statusCode());
                    String id = requestId(r);
                    assertTrue(logged(fx).stream().anyMatch(e -> e.contains(id)), "in the usage log already");
                    ids.add(id);
                }
                release.countDown();
                fx.node.settlement().awaitJournaled();
                for (String id : ids) {
                    UsageRecord rec = fx.record(id);
                    SettlementView v = fx.node.settlement().settlement(id).orElseThrow();
                    assertEquals("settled", v.state());
                    assertEquals(PaidSetup.cost(rec.promptTokens(), rec.completionTokens()), v.releasedMicros());
                }
            } finally {
                release.countDown();
            }
        }
    }

    static HttpResponse<byte[]> pay(ProxyFixture fx, String body) throws Exception {
        return fx.post(fx.proxyOrigin(), "/v1/chat/completions", body, "authorization", "Bearer " + PaidSetup.PAY_KEY);
    }

    static String requestId(HttpResponse<byte[]> r) {
        return r.headers().firstValue(OpenAiError.REQUEST_ID_HEADER).orElseThrow();
    }
}
