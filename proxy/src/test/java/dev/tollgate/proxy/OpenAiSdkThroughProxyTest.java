package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.HttpResponseFor;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.embeddings.CreateEmbeddingResponse;
import com.openai.models.embeddings.EmbeddingCreateParams;
import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.testing.ProxyFixture;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The official OpenAI Java SDK talks to Tollgate, which talks to the simulator: every kind of request is
 * answered as the SDK expects, and Tollgate's usage record equals what the upstream reported.
 */
class OpenAiSdkThroughProxyTest {
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

    private static ChatCompletionCreateParams.Builder chat(long maxTokens) {
        return ChatCompletionCreateParams.builder().model("tollgate-sim-1")
                .addUserMessage("Tell me about metering proxies and back-pressure.").maxTokens(maxTokens);
    }

    private static String requestId(com.openai.core.http.HttpResponse r) {
        return r.headers().values("x-tollgate-request-id").get(0);
    }

    @Test
    void nonStreamingChatIsMeteredFromTheBodyUsage() {
        try (HttpResponseFor<ChatCompletion> raw = client.chat().completions().withRawResponse().create(chat(20).build())) {
            ChatCompletion c = raw.parse();
            UsageRecord r = fx.record(requestId(raw));
            assertEquals(c.usage().get().promptTokens(), r.promptTokens());
            assertEquals(c.usage().get().completionTokens(), r.completionTokens());
            assertEquals(UsageSource.UPSTREAM, r.usageSource());
            assertEquals(Outcome.COMPLETED, r.outcome());
            assertEquals(Route.CHAT_COMPLETIONS, r.route());
            assertFalse(r.streamed());
        }
    }

    @Test
    void streamWithUsageShowsTheUsageChunkAndTheRecordMatchesIt() {
        ChatCompletionCreateParams p = chat(30)
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
        try (HttpResponseFor<StreamResponse<ChatCompletionChunk>> raw =
                     client.chat().completions().withRawResponse().createStreaming(p);
             StreamResponse<ChatCompletionChunk> stream = raw.parse()) {
            List<ChatCompletionChunk> chunks = stream.stream().collect(Collectors.toList());
            List<ChatCompletionChunk> usage = chunks.stream().filter(c -> c.usage().isPresent()).toList();
            assertEquals(1, usage.size(), "exactly the one usage chunk the client asked for");
            assertTrue(usage.get(0).choices().isEmpty());
            UsageRecord r = fx.record(requestId(raw));
            assertEquals(usage.get(0).usage().get().promptTokens(), r.promptTokens());
            assertEquals(usage.get(0).usage().get().completionTokens(), r.completionTokens());
            assertTrue(r.completionTokens() > 0 && r.completionTokens() <= 30);
            assertEquals(UsageSource.UPSTREAM, r.usageSource());
            assertTrue(r.ttftNanos() > 0);
            assertTrue(r.streamed());
        }
    }

    @Test
    void streamWithoutUsageHidesTheInjectedUsageButStillMetersExactly() {
        try (HttpResponseFor<StreamResponse<ChatCompletionChunk>> raw =
                     client.chat().completions().withRawResponse().createStreaming(chat(25).build());
             StreamResponse<ChatCompletionChunk> stream = raw.parse()) {
            List<ChatCompletionChunk> chunks = stream.stream().collect(Collectors.toList());
            assertTrue(chunks.stream().noneMatch(c -> c.usage().isPresent()), "no usage reaches this client");
            assertTrue(chunks.stream().noneMatch(c -> c.choices().isEmpty()), "no usage-only chunk");
            UsageRecord r = fx.record(requestId(raw));
            assertEquals(UsageSource.UPSTREAM, r.usageSource());
            long contentChunks = chunks.stream()
                    .filter(c -> c.choices().get(0).delta().content().map(s -> !s.isEmpty()).orElse(false)).count();
            assertTrue(r.completionTokens() >= contentChunks);
            assertEquals(Outcome.COMPLETED, r.outcome());
        }
    }

    @Test
    void twoChoicesAreCountedOnceForThePromptAndSummedForCompletions() {
        ChatCompletionCreateParams p = chat(12).n(2)
                .streamOptions(ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
        try (HttpResponseFor<StreamResponse<ChatCompletionChunk>> raw =
                     client.chat().completions().withRawResponse().createStreaming(p);
             StreamResponse<ChatCompletionChunk> stream = raw.parse()) {
            List<ChatCompletionChunk> chunks = stream.stream().collect(Collectors.toList());
            ChatCompletionChunk usage = chunks.stream().filter(c -> c.usage().isPresent()).findFirst().orElseThrow();
            assertTrue(chunks.stream().anyMatch(c -> !c.choices().isEmpty() && c.choices().get(0).index() == 1));
            UsageRecord r = fx.record(requestId(raw));
            assertEquals(usage.usage().get().completionTokens(), r.completionTokens());
            assertEquals(usage.usage().get().promptTokens(), r.promptTokens());
        }
    }

    @Test
    void completionsAndEmbeddingsAreMetered() {
        CompletionCreateParams cp = CompletionCreateParams.builder().model("tollgate-sim-1")
                .prompt("Once upon a time").maxTokens(9).build();
        try (HttpResponseFor<Completion> raw = client.completions().withRawResponse().create(cp)) {
            Completion c = raw.parse();
            UsageRecord r = fx.record(requestId(raw));
            assertEquals(c.usage().get().completionTokens(), r.completionTokens());
            assertEquals(c.usage().get().promptTokens(), r.promptTokens());
            assertEquals(Route.COMPLETIONS, r.route());
        }
        EmbeddingCreateParams ep = EmbeddingCreateParams.builder().model("tollgate-sim-1")
                .input("two words and more").build();
        try (HttpResponseFor<CreateEmbeddingResponse> raw = client.embeddings().withRawResponse().create(ep)) {
            CreateEmbeddingResponse e = raw.parse();
            UsageRecord r = fx.record(requestId(raw));
            assertEquals(e.usage().promptTokens(), r.promptTokens());
            assertEquals(0, r.completionTokens());
            assertEquals(Route.EMBEDDINGS, r.route());
        }
    }

    @Test
    void completionsStreamIsMetered() {
        CompletionCreateParams cp = CompletionCreateParams.builder().model("tollgate-sim-1")
                .prompt("Once upon a time").maxTokens(7).build();
        try (HttpResponseFor<StreamResponse<Completion>> raw =
                     client.completions().withRawResponse().createStreaming(cp);
             StreamResponse<Completion> stream = raw.parse()) {
            List<Completion> chunks = stream.stream().collect(Collectors.toList());
            assertTrue(chunks.stream().noneMatch(c -> c.usage().isPresent()));
            UsageRecord r = fx.record(requestId(raw));
            assertEquals(7, r.completionTokens());
            assertEquals(UsageSource.UPSTREAM, r.usageSource());
        }
    }
}
