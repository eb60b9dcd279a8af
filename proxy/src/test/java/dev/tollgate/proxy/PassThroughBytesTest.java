package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.testing.ProxyFixture;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What the client receives through Tollgate is byte for byte what the upstream sends to a direct client,
 * although Tollgate asked the upstream for (continuous) usage that this client did not ask for.
 */
class PassThroughBytesTest {
    static ProxyFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = ProxyFixture.start();
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}],\"max_tokens\":40,\"stream\":true}",
        "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}],\"max_tokens\":40,\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
        "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}],\"max_tokens\":40,\"stream\":true,\"stream_options\":{\"include_usage\":true,\"continuous_usage_stats\":true}}",
        "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"two of them\"}],\"max_tokens\":9,\"n\":2,\"stream\":true}",
        "{\"model\":\"tollgate-sim-1\",\"prompt\":\"Once upon a time\",\"max_tokens\":12,\"stream\":true}",
        "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"not streamed\"}],\"max_tokens\":12}",
        "{\"model\":\"tollgate-sim-1\",\"input\":\"embed me\"}"
    })
    void bodyIsIdenticalToADirectRequest(String body) throws Exception {
        String path = body.contains("\"messages\"") ? "/v1/chat/completions"
                : body.contains("\"prompt\"") ? "/v1/completions" : "/v1/embeddings";
        HttpResponse<byte[]> direct = fx.post(fx.simulatorOrigin(), path, body);
        HttpResponse<byte[]> proxied = fx.post(fx.proxyOrigin(), path, body);
        assertEquals(direct.statusCode(), proxied.statusCode());
        assertEquals(direct.headers().firstValue("content-type"), proxied.headers().firstValue("content-type"));
        assertEquals(normalize(direct.body()), normalize(proxied.body()));
        String id = proxied.headers().firstValue("x-tollgate-request-id").orElseThrow();
        UsageRecord r = fx.record(id);
        assertEquals(UsageSource.UPSTREAM, r.usageSource());
        assertTrue(r.promptTokens() > 0);
    }

    /** Two requests a second apart differ in their {@code created} stamp only. */
    private static String normalize(byte[] body) {
        return new String(body, StandardCharsets.UTF_8).replaceAll("\"created\":\\d+", "\"created\":0");
    }
}
