package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.metering.Outcome;
import dev.tollgate.proxy.config.ApiKeyConfig;
import dev.tollgate.proxy.http.ApiKeys;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.ProxyFixture;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Requests Tollgate refuses itself get the OpenAI error shape and the right status, and never reach the upstream. */
class BadInputTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    static ProxyFixture fx;

    @BeforeAll
    static void start() throws Exception {
        fx = ProxyFixture.start(SimulatorConfig.defaults(), c -> c
                .withApiKeys(List.of(new ApiKeyConfig(ApiKeys.hash("sk-good"), "acme")))
                .withLimits(c.withDefaults().limits().withMaxRequestBodyBytes(64 * 1024)));
    }

    @AfterAll
    static void stop() {
        fx.close();
    }

    private static JsonNode error(HttpResponse<byte[]> r) throws Exception {
        JsonNode e = JSON.readTree(new String(r.body(), StandardCharsets.UTF_8)).get("error");
        assertTrue(e != null && e.get("message").isTextual() && e.has("type") && e.has("param") && e.has("code"));
        return e;
    }

    @Test
    void invalidJsonIs400() throws Exception {
        long before = fx.simulator.requestsServed();
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", "{not json",
                "authorization", "Bearer sk-good");
        assertEquals(400, r.statusCode());
        error(r);
        assertEquals(Outcome.REJECTED, fx.record(r.headers().firstValue("x-tollgate-request-id").orElseThrow()).outcome());
        assertEquals(before, fx.simulator.requestsServed());
    }

    @Test
    void wrongTypesAre400WithTheParam() throws Exception {
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions",
                "{\"model\":\"m\",\"messages\":[],\"max_tokens\":\"x\"}", "authorization", "Bearer sk-good");
        assertEquals(400, r.statusCode());
        assertEquals("max_tokens", error(r).get("param").asText());
        r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", "{\"model\":\"m\",\"messages\":[],\"max_tokens\":-1}",
                "authorization", "Bearer sk-good");
        assertEquals(400, r.statusCode());
    }

    @Test
    void oversizedBodyIs413() throws Exception {
        String big = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"" + "a".repeat(100_000) + "\"}]}";
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", big, "authorization", "Bearer sk-good");
        assertEquals(413, r.statusCode());
        error(r);
    }

    @Test
    void unknownOrMissingKeyIs401() throws Exception {
        String ok = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
        HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", ok, "authorization", "Bearer sk-bad");
        assertEquals(401, r.statusCode());
        assertEquals("invalid_api_key", error(r).get("code").asText());
        r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", ok);
        assertEquals(401, r.statusCode());
        r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", ok, "authorization", "Bearer sk-good");
        assertEquals(200, r.statusCode());
        assertEquals("acme", fx.record(r.headers().firstValue("x-tollgate-request-id").orElseThrow()).account());
    }

    @Test
    void modelsArePassedThroughUnmetered() throws Exception {
        HttpResponse<String> r = fx.get(fx.proxyOrigin() + "/v1/models", "authorization", "Bearer sk-good");
        assertEquals(200, r.statusCode());
        assertTrue(r.body().contains("tollgate-sim-1"));
        assertTrue(r.headers().firstValue("x-tollgate-request-id").isPresent());
    }
}
