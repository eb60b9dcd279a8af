package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.HttpResponseFor;
import com.openai.core.http.StreamResponse;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseStreamEvent;
import com.openai.models.responses.ResponseUsage;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.simulator.SimulatedCompletion;
import dev.tollgate.testing.ProxyFixture;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The OpenAI Responses API through Tollgate with the official Java SDK: streamed and not, the SDK reads the
 * answer as it expects, and the usage record's counts are those the upstream reported.
 */
class ResponsesApiTest {
    static ProxyFixture fx;
    static OpenAIClient client;

    @BeforeAll
    static void start() throws Exception {
        fx = ProxyFixture.start();
        client = OpenAIOkHttpClient.builder().baseUrl(fx.node.baseUrl()).apiKey("sk-test").maxRetries(0).build();
    }

    @AfterAll
    static void stop() {
        client.close();
        fx.close();
    }

    private static ResponseCreateParams params(long maxOutput) {
        return ResponseCreateParams.builder().model("tollgate-sim-1").instructions("Answer in one line.")
                .input("What does a metering proxy count?").maxOutputTokens(maxOutput).build();
    }

    /** What the simulator reports for the same body (computed by the simulator, not by Tollgate). */
    private static final String SAME_BODY = "{\"model\":\"tollgate-sim-1\",\"instructions\":\"Answer in one line.\","
            + "\"input\":\"What does a metering proxy count?\",\"max_output_tokens\":%d}";

    @Test
    void nonStreamedResponseIsMeteredFromItsUsage() {
        try (HttpResponseFor<Response> raw = client.responses().withRawResponse().create(params(40))) {
            Response r = raw.parse();
            ResponseUsage u = r.usage().orElseThrow();
            UsageRecord rec = fx.record(raw.headers().values("x-tollgate-request-id").get(0));
            assertEquals(u.inputTokens(), rec.promptTokens());
            assertEquals(u.outputTokens(), rec.completionTokens());
            assertEquals(SimulatedCompletion.promptTokensFor(SimulatedCompletion.Kind.RESPONSE,
                    String.format(SAME_BODY, 40)), rec.promptTokens());
            assertEquals(Route.RESPONSES, rec.route());
            assertEquals(UsageSource.UPSTREAM, rec.usageSource());
            assertEquals(Outcome.COMPLETED, rec.outcome());
            assertEquals(40, rec.maxTokens());
            assertFalse(rec.streamed());
            assertFalse(r.output().isEmpty());
        }
    }

    @Test
    void streamedResponseIsMeteredFromResponseCompleted() {
        try (HttpResponseFor<StreamResponse<ResponseStreamEvent>> raw =
                     client.responses().withRawResponse().createStreaming(params(6));
             StreamResponse<ResponseStreamEvent> stream = raw.parse()) {
            List<ResponseStreamEvent> events = stream.stream().collect(Collectors.toList());
            assertTrue(events.get(0).isCreated());
            ResponseStreamEvent last = events.get(events.size() - 1);
            assertTrue(last.isCompleted());
            ResponseUsage u = last.asCompleted().response().usage().orElseThrow();
            String text = events.stream().filter(ResponseStreamEvent::isOutputTextDelta)
                    .map(e -> e.asOutputTextDelta().delta()).collect(Collectors.joining());
            assertFalse(text.isEmpty());
            UsageRecord rec = fx.record(raw.headers().values("x-tollgate-request-id").get(0));
            assertEquals(u.inputTokens(), rec.promptTokens());
            assertEquals(u.outputTokens(), rec.completionTokens());
            assertEquals(6, rec.completionTokens());
            assertEquals(SimulatedCompletion.promptTokensFor(SimulatedCompletion.Kind.RESPONSE,
                    String.format(SAME_BODY, 6)), rec.promptTokens());
            assertEquals(Route.RESPONSES, rec.route());
            assertEquals(UsageSource.UPSTREAM, rec.usageSource());
            assertEquals(Outcome.COMPLETED, rec.outcome());
            assertTrue(rec.streamed());
            assertTrue(rec.ttftNanos() >= 0);
        }
    }

    @Test
    void streamCutMidwayIsEstimatedFromTheDeltasServed() throws Exception {
        var r = fx.post(fx.proxyOrigin(), "/v1/responses", String.format(SAME_BODY.replace("}", ",\"stream\":true}"), 30),
                "x-sim-fault", "reset-after:3", "x-sim-completion-tokens", "30");
        assertEquals(200, r.statusCode());
        String body = new String(r.body(), java.nio.charset.StandardCharsets.UTF_8);
        assertEquals(3, body.split("event: response.output_text.delta", -1).length - 1);
        // It ends the Responses API's way: a named error event, no chat-style [DONE].
        assertTrue(body.contains("event: error\ndata: {\"type\":\"error\",\"code\":\"upstream_error\""), body);
        assertTrue(!body.contains("[DONE]"), body);
        UsageRecord rec = fx.record(r.headers().firstValue("x-tollgate-request-id").orElseThrow());
        assertEquals(Outcome.STREAM_ERROR, rec.outcome());
        assertEquals(UsageSource.ESTIMATED, rec.usageSource());
        assertTrue(rec.completionTokens() > 0 && rec.completionTokens() < 30, "estimated " + rec.completionTokens());
    }
}
