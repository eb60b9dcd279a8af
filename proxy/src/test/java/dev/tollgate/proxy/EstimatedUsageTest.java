package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.ProxyFixture;
import dev.tollgate.testing.RawSseUpstream;
import java.net.http.HttpResponse;
import java.util.List;
import org.junit.jupiter.api.Test;

/** An upstream that ignores stream_options and sends no usage: Tollgate counts with its tokenizer and says so. */
class EstimatedUsageTest {

    @Test
    void noUpstreamUsageMeansATokenizerEstimateMarkedEstimated() throws Exception {
        try (RawSseUpstream upstream = new RawSseUpstream(37);
             ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(), c -> c.withUpstreams(
                     List.of(new UpstreamConfig("third-party", upstream.baseUrl(), null, null, false, "w"))))) {
            HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions",
                    "{\"model\":\"raw\",\"messages\":[{\"role\":\"user\",\"content\":\"hello world\"}],\"stream\":true}");
            assertEquals(200, r.statusCode());
            assertEquals(upstream.bodyBytes(), r.body().length, "the stream passes unchanged");
            UsageRecord rec = fx.record(r.headers().firstValue("x-tollgate-request-id").orElseThrow());
            assertEquals(UsageSource.ESTIMATED, rec.usageSource());
            // 37 chunks of " token": one cl100k token each.
            assertEquals(37, rec.completionTokens());
            // "hello world" is 2 tokens, plus 4 for the message and 3 for the reply priming.
            assertEquals(9, rec.promptTokens());
            assertEquals(Outcome.COMPLETED, rec.outcome());
        }
    }
}
