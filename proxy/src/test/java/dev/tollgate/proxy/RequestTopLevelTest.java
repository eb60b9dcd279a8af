package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The top level read without a tree, against Jackson's own tree as the reference: every body gives the tree's
 * scalars, {@code model}, {@code stream_options}, {@code metadata} and {@code instructions} as the tree has them and
 * every other member as an empty value of the tree's type for it; every body the tree refuses is refused with the
 * tree's message; a top level that is not an object reads as nothing.
 */
class RequestTopLevelTest {
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final Set<String> WHOLE = Set.of("model", "stream_options", "metadata", "instructions");

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** The reference: Jackson's tree with what the reader skips replaced by an empty value of the same type. */
    private static ObjectNode expected(String body) throws Exception {
        JsonNode tree = MAPPER.readTree(utf8(body));
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        for (Iterator<Map.Entry<String, JsonNode>> it = tree.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode v = e.getValue();
            if (WHOLE.contains(e.getKey()) || v.isValueNode() && !v.isTextual()) {
                out.set(e.getKey(), v);
            } else if (v.isTextual()) {
                out.put(e.getKey(), "");
            } else {
                out.set(e.getKey(), v.isArray() ? out.arrayNode() : out.objectNode());
            }
        }
        return out;
    }

    @Test
    void readsWhatTheTreeHoldsAndStandsInForTheRest() throws Exception {
        List<String> bodies = List.of(
                "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi \\\"there\\\" \\u00e9\"}],\"max_tokens\":16}",
                "{\"model\":null,\"stream\":true,\"stream_options\":{\"include_usage\":\"true\",\"continuous_usage_stats\":1}}",
                "{\"prompt\":\"a long prompt\",\"n\":2,\"best_of\":3.0,\"max_tokens\":1e3}",
                "{\"prompt\":[\"a\",[1,2],{\"x\":[]}],\"max_tokens\":-1,\"temperature\":0.5,\"logit_bias\":{\"1\":-100}}",
                "{\"input\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":\"x\"}]}],"
                        + "\"instructions\":\"be brief\",\"max_output_tokens\":99999999999999999999999}",
                "{\"input\":\"plain\",\"metadata\":{\"trace_id\":\"t-1\",\"tags\":[\"a\",\"b\"]},\"instructions\":7}",
                "{\"messages\":[1],\"messages\":\"second wins\",\"model\":\"a\",\"model\":\"b\",\"stream\":false}",
                "{\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\",\"parameters\":{\"type\":\"object\"}}}],"
                        + "\"messages\":[],\"max_completion_tokens\":5,\"max_tokens\":null}",
                "  {\"model\":\"m\",\"messages\":[]}  trailing bytes are not read",
                "{}");
        for (String body : bodies) {
            assertEquals(expected(body), RequestTopLevel.read(MAPPER, utf8(body)), body);
        }
    }

    @Test
    void aTopLevelThatIsNotAnObjectIsNothing() throws Exception {
        for (String body : List.of("", "   ", "[1,2]", "\"text\"", "42", "null", "true")) {
            assertNull(RequestTopLevel.read(MAPPER, utf8(body)), body);
        }
    }

    @Test
    void aBodyTheTreeRefusesIsRefusedWithTheTreesMessage() {
        List<String> bodies = List.of(
                "{\"model\":\"m\",\"messages\":[{\"content\":\"unterminated}]}",
                "{\"model\":\"m\",\"messages\":[1,2,}",
                "{\"model\":\"m\" \"stream\":true}",
                "{\"messages\":[{\"content\":\"x\"}]",
                "{\"max_tokens\":01}",
                "{\"messages\":[\"bad escape \\q\"]}",
                "[1, 2",
                "{\"a\":tru}",
                "{" + "[".repeat(1500) + "]".repeat(1500) + "}",
                "{\"messages\":" + "[".repeat(1500) + "]".repeat(1500) + "}",
                "{\"messages\":[" + "9".repeat(1500) + "]}",
                "{\"max_tokens\":" + "9".repeat(1500) + "}");
        for (String body : bodies) {
            JsonProcessingException reference = assertThrows(JsonProcessingException.class,
                    () -> MAPPER.readTree(utf8(body)), body);
            JsonProcessingException read = assertThrows(JsonProcessingException.class,
                    () -> RequestTopLevel.read(MAPPER, utf8(body)), body);
            assertEquals(reference.getOriginalMessage(), read.getOriginalMessage(), body);
        }
    }

    @Test
    void meteredRequestKeepsItsChecksOnTheStandIns() throws Exception {
        MeteredRequest.Invalid e = assertThrows(MeteredRequest.Invalid.class, () -> MeteredRequest.parse(
                dev.tollgate.metering.Route.CHAT_COMPLETIONS, utf8("{\"model\":\"m\",\"messages\":\"not a list\"}")));
        assertEquals("messages", e.param());
        MeteredRequest r = MeteredRequest.parse(dev.tollgate.metering.Route.CHAT_COMPLETIONS,
                utf8("{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}],\"n\":2,"
                        + "\"max_tokens\":10,\"stream\":true,\"stream_options\":{\"include_usage\":false}}"));
        assertEquals("m", r.model());
        assertEquals(10, r.maxTokens());
        assertEquals(2, r.choices());
        assertTrue(r.stream());
        assertTrue(!r.clientWantsUsage());
    }
}
