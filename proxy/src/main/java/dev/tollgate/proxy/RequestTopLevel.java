package dev.tollgate.proxy;

import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.Set;

/**
 * A request body's top level as {@link MeteredRequest#parse} reads it, in one pass of Jackson's streaming parser:
 * numbers, booleans, nulls, {@code model} and the members named in {@link #READ_WHOLE} as Jackson's tree would hold
 * them; every other string, array or object (the messages, the prompt, the input, tools...) as an empty stand-in of
 * the same JSON type, skipped by the parser without being built. The parser still reads every byte, so a body
 * Jackson's tree would refuse is refused here with the same message, and a duplicate member keeps its last value,
 * as the tree does. What follows the top-level value is not read (as {@code ObjectMapper.readTree} does not).
 *
 * <p>Why: the tree of a chat request is mostly its messages, built into nodes and strings only to be looked at for
 * its type; the prompt estimate, which needs the text, is rare (a response without usage) and parses the body again.
 *
 * <p>Threading: stateless; any thread.
 */
final class RequestTopLevel {
    /** Containers and strings read in full: what the checks and the trace link look inside. */
    private static final Set<String> READ_WHOLE = Set.of("model", "stream_options", "metadata", "instructions");

    private RequestTopLevel() {
    }

    /** The top-level object, or null when the body is empty or its top-level value is not an object. */
    static ObjectNode read(ObjectMapper mapper, byte[] json) throws IOException {
        try (JsonParser p = mapper.createParser(json)) {
            JsonToken t = p.nextToken();
            if (t == null) {
                return null;
            }
            if (t != JsonToken.START_OBJECT) {
                p.skipChildren(); // a malformed array is still a parse error, as for the tree
                return null;
            }
            ObjectNode top = JsonNodeFactory.instance.objectNode();
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken v = p.nextToken();
                if (READ_WHOLE.contains(name) || v.isScalarValue() && v != JsonToken.VALUE_STRING) {
                    top.set(name, mapper.readTree(p));
                } else if (v == JsonToken.VALUE_STRING) {
                    top.put(name, ""); // the string is skipped by the next token, never decoded
                } else {
                    p.skipChildren();
                    top.set(name, v == JsonToken.START_ARRAY ? top.arrayNode() : top.objectNode());
                }
            }
            if (t != JsonToken.END_OBJECT) { // the parser reports a malformed object itself; this is a safety net
                throw new JsonParseException(p, "Unexpected end-of-input: expected close marker for Object");
            }
            return top;
        }
    }
}
