package dev.tollgate.metering;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tollgate.metering.tokens.TokenEstimator;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class TokenEstimatorTest {
    @Test
    void countsWithARealBpeTokenizer() {
        TokenEstimator t = TokenEstimator.standard();
        assertEquals(2, t.count("hello world"));
        byte[] utf8 = "hello world".getBytes(StandardCharsets.UTF_8);
        assertEquals(2, t.countUtf8(utf8, 0, utf8.length));
        assertEquals(3 + 4 + 2, t.countChat(List.of("hello world")));
        assertEquals(0, t.count(""));
    }
}
