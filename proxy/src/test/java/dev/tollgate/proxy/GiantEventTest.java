package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.RawHttp;
import dev.tollgate.testing.GiantEventUpstream;
import dev.tollgate.testing.ProxyFixture;
import io.netty.util.internal.PlatformDependent;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * One SSE event of 256 MiB: the proxy stops filtering once the event outgrows the parser's bound and relays
 * the rest unchanged, so its direct memory stays bounded while the client gets every byte; the record is
 * settled.
 */
class GiantEventTest {
    private static final long CONTENT = 256L << 20;
    /** Far below the event: what the proxy may hold, plus its allocator's chunks, plus the JDK's own. */
    private static final long DIRECT_MEMORY_ALLOWANCE = 32L << 20;

    @Test
    void a256MibEventPassesWithBoundedDirectMemory() throws Exception {
        try (GiantEventUpstream up = new GiantEventUpstream(CONTENT);
             ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(), c -> c
                     .withUpstreams(List.of(new UpstreamConfig("giant", up.baseUrl(), null, null, true, "w"))));
             Socket s = new Socket("127.0.0.1", fx.node.proxyPort())) {
            long before = directMemory();
            String body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}";
            OutputStream out = s.getOutputStream();
            out.write(("POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
                    + "connection: close\r\ncontent-length: " + body.length() + "\r\n\r\n" + body)
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = new BufferedInputStream(s.getInputStream(), 1 << 16);
            String requestId = null;
            String line;
            while (!(line = RawHttp.readLine(in)).isEmpty()) {
                if (line.toLowerCase().startsWith("x-tollgate-request-id:")) {
                    requestId = line.substring(line.indexOf(':') + 1).trim();
                }
            }
            byte[] expectHead = GiantEventUpstream.PREFIX.getBytes(StandardCharsets.US_ASCII);
            byte[] expectTail = GiantEventUpstream.SUFFIX.getBytes(StandardCharsets.US_ASCII);
            long total = up.bodyBytes();
            long pos = 0;
            long maxDirect = before;
            int size;
            while ((size = Integer.parseInt(RawHttp.readLine(in).trim(), 16)) > 0) {
                byte[] chunk = in.readNBytes(size);
                for (byte b : chunk) {
                    byte expect = pos < expectHead.length ? expectHead[(int) pos]
                            : pos >= total - expectTail.length ? expectTail[(int) (pos - (total - expectTail.length))]
                            : (byte) 'x';
                    if (b != expect) {
                        throw new AssertionError("byte " + pos + " differs from the upstream's");
                    }
                    pos++;
                }
                RawHttp.readLine(in);
                maxDirect = Math.max(maxDirect, directMemory());
            }
            assertEquals(total, pos, "every byte of the event and the [DONE] after it");
            assertTrue(maxDirect - before < DIRECT_MEMORY_ALLOWANCE, "direct memory grew by "
                    + (maxDirect - before) + " bytes relaying a " + CONTENT + "-byte event");
            UsageRecord r = fx.record(requestId);
            assertEquals(Outcome.COMPLETED, r.outcome());
        }
    }

    /** Direct memory in use, by Netty's own count and the JDK's, whichever sees more. */
    private static long directMemory() {
        long jdk = 0;
        for (BufferPoolMXBean pool : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (pool.getName().equals("direct")) {
                jdk = pool.getMemoryUsed();
            }
        }
        return Math.max(jdk, PlatformDependent.usedDirectMemory());
    }
}
