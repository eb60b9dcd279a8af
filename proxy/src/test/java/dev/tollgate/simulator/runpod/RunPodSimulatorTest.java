package dev.tollgate.simulator.runpod;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Iterator;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The RunPod simulator answers with RunPod's documented shapes (fixture {@code v07}: the member names of each
 * answer; {@code v09}: the {@code /stream} poll body) and behaviour: poll-and-drain, cancel, retry of failed jobs
 * only, TTL 404, 401 for a wrong key, 429 over the documented rate limit.
 */
class RunPodSimulatorTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    static RunPodSimulator sim;
    static JsonNode v07;
    final HttpClient http = HttpClient.newHttpClient();

    @BeforeAll
    static void start() throws Exception {
        sim = RunPodSimulator.start("127.0.0.1", 0, "k", "m", null);
        try (InputStream in = RunPodSimulatorTest.class.getResourceAsStream(
                "/fixtures/runpod/v07_runpod_native_api_responses.json")) {
            v07 = JSON.readTree(in);
        }
    }

    @AfterAll
    static void stop() {
        sim.close();
    }

    private HttpResponse<String> call(String method, String tail, String body, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(sim.origin() + "/v2/ep/" + tail))
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body));
        if (key != null) {
            b.header("authorization", key);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    private JsonNode ok(String method, String tail, String body) throws Exception {
        HttpResponse<String> r = call(method, tail, body, "Bearer k");
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body());
    }

    private static Set<String> names(JsonNode n) {
        Set<String> s = new TreeSet<>();
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            s.add(it.next());
        }
        return s;
    }

    @Test
    void answersHaveTheDocumentedShapes() throws Exception {
        String input = "{\"input\":{\"prompt\":\"a b\",\"sampling_params\":{\"max_tokens\":4}}}";
        JsonNode run = ok("POST", "run", input);
        assertEquals(names(v07.get("run_response")), names(run));
        assertEquals("IN_QUEUE", run.get("status").asText());
        JsonNode sync = ok("POST", "runsync", input);
        assertTrue(sync.get("id").asText().startsWith("sync-"));
        Set<String> expected = names(v07.get("runsync_response"));
        expected.add("workerId"); // As in v08's public-endpoint answer.
        assertEquals(expected, names(sync));
        assertEquals(4, sync.get("output").get(0).get("usage").get("completion_tokens").asInt());
        assertEquals(names(v07.get("health_response")), names(ok("GET", "health", null)));
        assertEquals(names(v07.get("health_response").get("jobs")), names(ok("GET", "health", null).get("jobs")));
        String id = run.get("id").asText();
        assertEquals("IN_QUEUE", ok("GET", "status/" + id, null).get("status").asText());
        assertEquals("IN_PROGRESS", ok("GET", "status/" + id, null).get("status").asText());
        JsonNode done = ok("GET", "status/" + id, null);
        assertEquals("COMPLETED", done.get("status").asText());
        assertEquals(names(v07.get("status_response")), new TreeSet<>(names(done)) {
            {
                remove("workerId");
            }
        });
    }

    @Test
    void streamIsPollAndDrain() throws Exception {
        String id = ok("POST", "run", "{\"input\":{\"prompt\":\"a b\",\"stream\":true,\"sampling_params\":"
                + "{\"max_tokens\":6}}}").get("id").asText();
        StringBuilder all = new StringBuilder();
        int polls = 0;
        JsonNode s;
        do {
            s = ok("GET", "stream/" + id, null);
            assertEquals(Set.of("status", "stream"), names(s)); // v09's shape
            s.get("stream").forEach(c -> all.append(c.get("output").asText()));
            polls++;
        } while (!s.get("status").asText().equals("COMPLETED"));
        assertTrue(polls >= 3);
        assertEquals(0, ok("GET", "stream/" + id, null).get("stream").size(), "drained: nothing twice");
        assertTrue(all.toString().endsWith("data: [DONE]\n\n"));
    }

    @Test
    void cancelRetryTtlKeysAndLimits() throws Exception {
        String hang = ok("POST", "run", "{\"input\":{\"prompt\":\"a\",\"sim_fault\":\"hang\"}}").get("id").asText();
        assertEquals(names(v07.get("cancel_response")), names(ok("POST", "cancel/" + hang, null)));
        assertEquals("CANCELLED", ok("GET", "status/" + hang, null).get("status").asText());
        assertEquals(400, call("POST", "retry/" + hang, null, "Bearer k").statusCode(), "only failed jobs retry");
        String failed = ok("POST", "runsync", "{\"input\":{\"prompt\":\"a\",\"sim_fault\":\"fail\"}}").get("id")
                .asText();
        assertEquals("FAILED", ok("GET", "status/" + failed, null).get("status").asText());
        assertEquals("IN_QUEUE", ok("POST", "retry/" + failed, null).get("status").asText());
        String gone = ok("POST", "run", "{\"input\":{\"prompt\":\"a\",\"sim_fault\":\"expire\"}}").get("id").asText();
        assertEquals(200, call("GET", "status/" + gone, null, "k").statusCode(), "the key without Bearer");
        assertEquals(404, call("GET", "status/" + gone, null, "k").statusCode(), "gone after its TTL");
        assertEquals(401, call("GET", "health", null, "Bearer wrong").statusCode());
        // /purge-queue: 2 per 10 s.
        int[] codes = new int[3];
        for (int i = 0; i < 3; i++) {
            codes[i] = call("POST", "purge-queue", null, "Bearer k").statusCode();
        }
        assertEquals(429, codes[2]);
    }
}
