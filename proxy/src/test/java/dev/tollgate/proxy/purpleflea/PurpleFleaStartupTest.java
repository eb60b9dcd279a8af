package dev.tollgate.proxy.purpleflea;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.net.httpserver.HttpServer;
import dev.tollgate.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code tollgate serve} with the Purple Flea backend checks each paying account's key against the service before
 * it starts: a key the service refuses exits with status 2 and one line naming the account. The service here is a
 * loopback stand-in that knows no key (every authenticated call answers 401, as the real service does for an
 * unknown key).
 */
class PurpleFleaStartupTest {
    @TempDir
    Path dir;

    @Test
    void aRefusedKeyExitsWithOneLineNamingTheAccount() throws Exception {
        HttpServer pf = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        AtomicInteger calls = new AtomicInteger();
        pf.createContext("/", ex -> {
            calls.incrementAndGet();
            byte[] b = "{\"error\":\"unauthorized\"}".getBytes(StandardCharsets.UTF_8);
            ex.getResponseHeaders().set("content-type", "application/json");
            ex.sendResponseHeaders(401, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        pf.start();
        try {
            Path f = dir.resolve("pf.yaml");
            Files.writeString(f, "upstreams: [{url: \"http://127.0.0.1:9/v1\", worker: ag_worker}]\n"
                    + "settlement:\n  backend: purpleflea\n  purpleflea_url: \"http://127.0.0.1:"
                    + pf.getAddress().getPort() + "\"\n  purpleflea_api_key: not-a-key\n"
                    + "  prices: {\"*\": {prompt_per_million: \"1\"}}\n"
                    + "  accounts:\n    ag_orchestrator: {policy: per_request}\n");
            PrintStream saved = System.err;
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int code;
            try {
                System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
                code = Main.run("serve", "--config", f.toString(), "--data", dir.toString());
            } finally {
                System.setErr(saved);
            }
            // Only Tollgate's own lines: a logging library may warn once per JVM on the same stream.
            String out = String.join("\n", err.toString(StandardCharsets.UTF_8).lines()
                    .filter(l -> !l.startsWith("SLF4J")).toList());
            assertEquals(2, code, out);
            assertEquals("tollgate: settlement.accounts.ag_orchestrator: the Purple Flea service refused its API key "
                    + "(the instance-level key): 401 unauthorized", out.strip(), "one line naming the account");
            assertEquals(1, calls.get(), "one authenticated call per key");
        } finally {
            pf.stop(0);
        }
    }
}
