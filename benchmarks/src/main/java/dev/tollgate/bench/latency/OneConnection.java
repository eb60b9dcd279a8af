package dev.tollgate.bench.latency;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import org.HdrHistogram.Histogram;

/**
 * Sequential requests on one keep-alive connection, every one timed (HdrHistogram, nanoseconds), alternating between
 * two targets (direct to the upstream, and through Tollgate) in rounds of a few seconds each: the added latency at
 * one connection, p50 / p99 / p99.9, with nothing sampled. A plain blocking socket and a fixed request, so that the
 * client adds as little as it can and the same to both targets.
 *
 * <pre>java -cp benchmarks/target/benchmarks.jar dev.tollgate.bench.latency.OneConnection DIRECT_PORT THROUGH_PORT
 *     API_KEY [seconds per run] [rounds]</pre>
 *
 * <p>Threading: one thread.
 */
public final class OneConnection {
    private static final String BODY = "{\"model\":\"tollgate-sim-1\",\"messages\":[{\"role\":\"user\",\"content\":"
            + "\"hello there\"}],\"max_tokens\":16}";

    /**
     * With {@code -Dtollgate.slowlog=FILE}: each timed request slower than {@code -Dtollgate.slowms} (default 0.3)
     * is written to FILE as {@code round target startNanos tookNanos} ({@code System.nanoTime}, CLOCK_MONOTONIC on
     * Linux, so it lines up with a JVM's {@code -Xlog:...:tn} decorations and with other processes' timestamps).
     */
    private static final String SLOW_LOG = System.getProperty("tollgate.slowlog");
    private static final long SLOW_NANOS = (long) (Double.parseDouble(System.getProperty("tollgate.slowms", "0.3")) * 1e6);
    /** Seconds of requests through the proxy before the first timed round ({@code -Dtollgate.warmup}, default 30). */
    private static final double WARM_UP_SECONDS = Double.parseDouble(System.getProperty("tollgate.warmup", "30"));
    private static final StringBuilder SLOW = new StringBuilder();
    private static int round;
    private static String target = "";

    private OneConnection() {
    }

    public static void main(String[] args) throws IOException {
        int direct = Integer.parseInt(args[0]);
        int through = Integer.parseInt(args[1]);
        String key = args[2];
        double seconds = args.length > 3 ? Double.parseDouble(args[3]) : 5;
        int rounds = args.length > 4 ? Integer.parseInt(args[4]) : 3;
        byte[] request = ("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Authorization: Bearer " + key + "\r\nContent-Length: " + BODY.length() + "\r\n\r\n" + BODY)
                .getBytes(StandardCharsets.US_ASCII);
        // Warm-up of both, not reported: long enough for the JIT to finish with the proxy's request path (its C2
        // compiler still took a third to a half of a core 20-30 s into a run after a 5 s warm-up).
        run(direct, request, seconds, null);
        run(through, request, WARM_UP_SECONDS, null);
        System.out.println("| round | target | requests | p50 ms | p99 ms | p99.9 ms | max ms |");
        System.out.println("|---|---|---|---|---|---|---|");
        for (int r = 1; r <= rounds; r++) {
            Histogram d = new Histogram(3);
            Histogram t = new Histogram(3);
            round = r;
            target = "direct";
            run(direct, request, seconds, d);
            target = "through";
            run(through, request, seconds, t);
            print(r, "direct", d);
            print(r, "through", t);
            System.out.printf(Locale.ROOT, "| %d | added | | %+.3f | %+.3f | %+.3f | |%n", r,
                    (t.getValueAtPercentile(50) - d.getValueAtPercentile(50)) / 1e6,
                    (t.getValueAtPercentile(99) - d.getValueAtPercentile(99)) / 1e6,
                    (t.getValueAtPercentile(99.9) - d.getValueAtPercentile(99.9)) / 1e6);
        }
        if (SLOW_LOG != null) {
            java.nio.file.Files.writeString(java.nio.file.Path.of(SLOW_LOG), SLOW);
        }
    }

    private static void print(int round, String target, Histogram h) {
        System.out.printf(Locale.ROOT, "| %d | %s | %,d | %.3f | %.3f | %.3f | %.3f |%n", round, target,
                h.getTotalCount(), h.getValueAtPercentile(50) / 1e6, h.getValueAtPercentile(99) / 1e6,
                h.getValueAtPercentile(99.9) / 1e6, h.getMaxValue() / 1e6);
    }

    private static void run(int port, byte[] request, double seconds, Histogram into) throws IOException {
        try (Socket s = new Socket()) {
            s.setTcpNoDelay(true);
            s.connect(new InetSocketAddress("127.0.0.1", port));
            OutputStream out = s.getOutputStream();
            InputStream in = new BufferedInputStream(s.getInputStream(), 64 * 1024);
            long end = System.nanoTime() + (long) (seconds * 1e9);
            while (true) {
                long start = System.nanoTime();
                if (start >= end) {
                    return;
                }
                out.write(request);
                out.flush();
                int status = readResponse(in);
                long took = System.nanoTime() - start;
                if (status != 200) {
                    throw new IOException("status " + status + " from port " + port);
                }
                if (into != null) {
                    into.recordValue(took);
                    if (SLOW_LOG != null && took >= SLOW_NANOS) {
                        SLOW.append(round).append(' ').append(target).append(' ').append(start).append(' ')
                                .append(took).append('\n');
                    }
                }
            }
        }
    }

    /** Reads one response (Content-Length or chunked body); returns its status. */
    private static int readResponse(InputStream in) throws IOException {
        String statusLine = line(in);
        int status = Integer.parseInt(statusLine.substring(9, 12));
        long length = -1;
        boolean chunked = false;
        for (String h = line(in); !h.isEmpty(); h = line(in)) {
            String lower = h.toLowerCase(Locale.ROOT);
            if (lower.startsWith("content-length:")) {
                length = Long.parseLong(lower.substring(15).trim());
            } else if (lower.startsWith("transfer-encoding:") && lower.contains("chunked")) {
                chunked = true;
            }
        }
        if (chunked) {
            for (long size = Long.parseLong(line(in).trim(), 16); size > 0; size = Long.parseLong(line(in).trim(), 16)) {
                skip(in, size);
                line(in);
            }
            while (!line(in).isEmpty()) {
                // Trailers.
            }
        } else if (length > 0) {
            skip(in, length);
        }
        return status;
    }

    private static void skip(InputStream in, long n) throws IOException {
        while (n > 0) {
            long k = in.skip(n);
            if (k <= 0) {
                if (in.read() < 0) {
                    throw new IOException("connection closed");
                }
                k = 1;
            }
            n -= k;
        }
    }

    private static String line(InputStream in) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int c = in.read(); c != '\n'; c = in.read()) {
            if (c < 0) {
                throw new IOException("connection closed");
            }
            if (c != '\r') {
                sb.append((char) c);
            }
        }
        return sb.toString();
    }
}
