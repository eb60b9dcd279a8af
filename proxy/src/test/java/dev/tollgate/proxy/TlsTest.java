package dev.tollgate.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.tollgate.metering.UsageRecord;
import dev.tollgate.proxy.config.ProxyConfig;
import dev.tollgate.proxy.config.UpstreamConfig;
import dev.tollgate.simulator.SimulatorConfig;
import dev.tollgate.testing.ProxyFixture;
import dev.tollgate.testing.TlsJsonUpstream;
import io.netty.pkitesting.CertificateBuilder;
import io.netty.pkitesting.X509Bundle;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.SSLContext;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * TLS to https upstreams verifies the certificate chain and the host name against the configured CA; TLS on the
 * listening side serves clients that trust Tollgate's certificate. The upstream's own key is sent, the
 * client's never.
 */
class TlsTest {
    private static final String CHAT = "{\"model\":\"tls-model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static X509Bundle ca;
    static X509Bundle localhost;
    static X509Bundle elsewhere;

    @BeforeAll
    static void certificates() throws Exception {
        ca = new CertificateBuilder().subject("CN=Tollgate Test CA").setIsCertificateAuthority(true).ecp256()
                .buildSelfSigned();
        localhost = new CertificateBuilder().subject("CN=localhost").addSanDnsName("localhost")
                .addSanIpAddress("127.0.0.1").ecp256().buildIssuedBy(ca);
        elsewhere = new CertificateBuilder().subject("CN=elsewhere.example").addSanDnsName("elsewhere.example")
                .ecp256().buildIssuedBy(ca);
    }

    private static ProxyFixture proxyTo(TlsJsonUpstream up, String caFile) throws Exception {
        return ProxyFixture.start(SimulatorConfig.defaults(), c -> c
                .withUpstreams(List.of(new UpstreamConfig("tls", "https://127.0.0.1:" + up.port() + "/v1",
                        "sk-upstream-own", null, true, "w")))
                .withUpstreamCaFile(caFile));
    }

    @Test
    void verifiedUpstreamServesAndGetsItsOwnKey() throws Exception {
        String caPem = ca.toTempRootCertPem().getPath();
        try (TlsJsonUpstream up = new TlsJsonUpstream(localhost); ProxyFixture fx = proxyTo(up, caPem)) {
            HttpResponse<byte[]> r = fx.post(fx.proxyOrigin(), "/v1/chat/completions", CHAT,
                    "authorization", "Bearer sk-client-secret");
            assertEquals(200, r.statusCode());
            assertEquals(TlsJsonUpstream.BODY, new String(r.body()));
            assertEquals("Bearer sk-upstream-own", up.lastAuthorization.get());
            UsageRecord rec = fx.record(r.headers().firstValue("x-tollgate-request-id").orElseThrow());
            assertEquals(7, rec.promptTokens());
            assertEquals(3, rec.completionTokens());
        }
    }

    @Test
    void untrustedUpstreamCertificateIsRefused() throws Exception {
        try (TlsJsonUpstream up = new TlsJsonUpstream(localhost); ProxyFixture fx = proxyTo(up, null)) {
            assertEquals(502, fx.post(fx.proxyOrigin(), "/v1/chat/completions", CHAT).statusCode());
        }
    }

    @Test
    void certificateForAnotherHostIsRefused() throws Exception {
        String caPem = ca.toTempRootCertPem().getPath();
        try (TlsJsonUpstream up = new TlsJsonUpstream(elsewhere); ProxyFixture fx = proxyTo(up, caPem)) {
            assertEquals(502, fx.post(fx.proxyOrigin(), "/v1/chat/completions", CHAT).statusCode());
        }
    }

    @Test
    void listenerServesTls() throws Exception {
        String caPem = ca.toTempRootCertPem().getPath();
        String chainPem = localhost.toTempCertChainPem().getPath();
        String keyPem = localhost.toTempPrivateKeyPem().getPath();
        try (TlsJsonUpstream up = new TlsJsonUpstream(localhost);
             ProxyFixture fx = ProxyFixture.start(SimulatorConfig.defaults(), c -> c
                     .withUpstreams(List.of(new UpstreamConfig("tls", "https://127.0.0.1:" + up.port() + "/v1",
                             null, null, true, "w")))
                     .withUpstreamCaFile(caPem)
                     .withTls(new ProxyConfig.Tls(chainPem, keyPem)))) {
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, ca.toTrustManagerFactory().getTrustManagers(), null);
            HttpClient https = HttpClient.newBuilder().sslContext(ctx).connectTimeout(Duration.ofSeconds(5)).build();
            HttpResponse<String> r = https.send(HttpRequest.newBuilder(
                            URI.create("https://localhost:" + fx.node.proxyPort() + "/v1/chat/completions"))
                    .header("content-type", "application/json").POST(HttpRequest.BodyPublishers.ofString(CHAT)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode());
            assertEquals(TlsJsonUpstream.BODY, r.body());
        }
    }
}
