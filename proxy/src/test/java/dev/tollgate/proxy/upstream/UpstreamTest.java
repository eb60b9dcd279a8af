package dev.tollgate.proxy.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.proxy.config.UpstreamConfig;
import org.junit.jupiter.api.Test;

/**
 * The upstream's bearer key goes into every upstream request head, which is not re-checked per request: a key
 * that would split the head (CR, LF or another control character, e.g. pasted with a newline) is refused when
 * the upstream is configured, never sent.
 */
class UpstreamTest {

    @Test
    void aKeyWithALineBreakIsRefusedAtStart() {
        var cfg = new UpstreamConfig("gpu-1", "http://127.0.0.1:8000/v1", "sk-up\r\nx-injected: 1", null, null, null);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Upstream(cfg));
        assertTrue(e.getMessage().contains("gpu-1"), e.getMessage());
    }

    @Test
    void aPlainKeyIsSentAsABearerToken() {
        var cfg = new UpstreamConfig("gpu-1", "http://127.0.0.1:8000/v1", "sk-up", null, null, null);
        assertEquals("Bearer sk-up", new Upstream(cfg).authorization());
    }
}
