package dev.tollgate.bench.jmh;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tollgate.metering.Route;
import dev.tollgate.proxy.MeteredRequest;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * A metered chat request's body read on the event loop: {@code parse} is {@link MeteredRequest#parse} as it runs
 * (the top level in one streaming pass, messages skipped), {@code tree} the Jackson tree the parse built before, the
 * baseline measured in the same run. Bodies: {@code small}, the load harness's one-message request (about 100
 * bytes); {@code chat}, a system and a user message (about 1 KB); {@code history}, 20 messages (about 16 KB).
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class RequestParseBenchmark {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    @Param({"small", "chat", "history"})
    public String body;

    private byte[] json;

    @Setup
    public void setUp() {
        String text = "Tell me about the weather in the mountains this week, and what to pack for a two-day hike. ";
        StringBuilder msgs = new StringBuilder();
        switch (body) {
            case "small" -> msgs.append("{\"role\":\"user\",\"content\":\"hello there\"}");
            case "chat" -> msgs.append("{\"role\":\"system\",\"content\":\"").append(text.repeat(5)).append("\"},")
                    .append("{\"role\":\"user\",\"content\":\"").append(text.repeat(5)).append("\"}");
            case "history" -> {
                for (int i = 0; i < 20; i++) {
                    msgs.append(i == 0 ? "" : ",").append("{\"role\":\"").append(i % 2 == 0 ? "user" : "assistant")
                            .append("\",\"content\":\"").append(text.repeat(8)).append("\"}");
                }
            }
            default -> throw new IllegalArgumentException(body);
        }
        json = ("{\"model\":\"tollgate-sim-1\",\"messages\":[" + msgs + "],\"max_tokens\":16,\"stream\":true,"
                + "\"temperature\":0.7}").getBytes(StandardCharsets.UTF_8);
    }

    @Benchmark
    public MeteredRequest parse() throws MeteredRequest.Invalid {
        return MeteredRequest.parse(Route.CHAT_COMPLETIONS, json);
    }

    @Benchmark
    public JsonNode tree() throws java.io.IOException {
        return MAPPER.readTree(json);
    }
}
