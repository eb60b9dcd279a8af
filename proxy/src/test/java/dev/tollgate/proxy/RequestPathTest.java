package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.netty.handler.codec.http.HttpMethod;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** Request targets are made canonical as the upstream will read them, or refused. */
class RequestPathTest {

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "/v1/chat/completions|/v1/chat/completions|/v1/chat/completions",
            "/v1/chat/%63ompletions|/v1/chat/completions|/v1/chat/completions",
            "/v1//chat/completions|/v1/chat/completions|/v1/chat/completions",
            "/v1/./chat/completions|/v1/chat/completions|/v1/chat/completions",
            "/v1/x/../chat/completions/|/v1/chat/completions|/v1/chat/completions",
            "/v1/%2e%2e/v1/responses|/v1/responses|/v1/responses",
            "//v1///embeddings//|/v1/embeddings|/v1/embeddings",
            "/v1/models?x=%2F&y=1|/v1/models|/v1/models?x=%2F&y=1",
            "/|/|/",
            "/a%20b/%25/%3F|/a b/%/?|/a%20b/%25/%3F",
            "/caf%C3%A9|/café|/caf%C3%A9",
            "/v1/responses/resp_1:x@y|/v1/responses/resp_1:x@y|/v1/responses/resp_1:x@y",
            // Already canonical, and the edges of that: dots inside a segment, '...' (a name, not a step up), a
            // query kept as sent, a single trailing '.' or '..' segment, a trailing slash.
            "/v1/models/llama-3.1_8b~x|/v1/models/llama-3.1_8b~x|/v1/models/llama-3.1_8b~x",
            "/v1/...|/v1/...|/v1/...",
            "/v1/chat/completions?a=%2F#x|/v1/chat/completions|/v1/chat/completions?a=%2F#x",
            "/v1/models/.|/v1/models|/v1/models",
            "/v1/x/..|/v1|/v1",
            "/v1/models/|/v1/models|/v1/models",
    })
    void canonicalPathAndWhatIsSentUpstream(String target, String path, String upstream) throws Exception {
        RequestPath p = RequestPath.of(HttpMethod.POST, target);
        assertEquals(path, p.path());
        assertEquals(upstream, p.upstreamUri());
    }

    @ParameterizedTest
    @ValueSource(strings = {"/v1/chat%2Fcompletions", "/v1/chat%2fcompletions", "/v1/%zz", "/v1/%4", "/v1/%",
            "/v1\\chat", "/v1/%5Cchat", "/v1/%00", "/v1/a%0Ab", "/v1/%7F", "/..", "/v1/../../etc",
            "/v1/%2e%2e/%2e%2e/x", "/v1/\u00e9", "/v1/%C3", "/v1/%FF", "/v1/a#frag"})
    void refusedAsInvalidPath(String target) {
        RequestPath.Refused e = assertThrows(RequestPath.Refused.class, () -> RequestPath.of(HttpMethod.POST, target));
        assertEquals(400, e.status().code());
        assertEquals("invalid_path", e.code());
    }

    @Test
    void targetsThatAreNotAPathAreAnsweredLocally() {
        RequestPath.Refused abs = assertThrows(RequestPath.Refused.class,
                () -> RequestPath.of(HttpMethod.POST, "http://upstream:8000/v1/chat/completions"));
        assertEquals(400, abs.status().code());
        assertEquals("invalid_request_target", abs.code());
        RequestPath.Refused connect = assertThrows(RequestPath.Refused.class,
                () -> RequestPath.of(HttpMethod.CONNECT, "upstream:8000"));
        assertEquals(405, connect.status().code());
        RequestPath.Refused star = assertThrows(RequestPath.Refused.class,
                () -> RequestPath.of(HttpMethod.OPTIONS, "*"));
        assertEquals(405, star.status().code());
    }
}
