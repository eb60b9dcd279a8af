package dev.tollgate.proxy;

import dev.tollgate.proxy.config.ConfigException;
import dev.tollgate.proxy.config.ProxyConfig;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.io.File;
import javax.net.ssl.SSLException;

/** Builds TLS contexts from the configuration. Stateless. */
final class TlsContexts {
    private TlsContexts() {
    }

    /**
     * The client context for https upstreams: certificates are always verified, against the JDK's trust store
     * or, when configured, the given CA file; host names are checked by the connector.
     */
    static SslContext forUpstreams(String caFile) {
        try {
            SslContextBuilder b = SslContextBuilder.forClient();
            if (caFile != null) {
                File f = new File(caFile);
                if (!f.isFile()) {
                    throw new ConfigException("upstream_ca_file not found: " + caFile);
                }
                b.trustManager(f);
            }
            return b.build();
        } catch (SSLException | IllegalArgumentException e) {
            throw new ConfigException("upstream TLS: " + e.getMessage());
        }
    }

    /** The server context for the listener, or null for plain HTTP. */
    static SslContext forListener(ProxyConfig.Tls tls) {
        if (tls == null) {
            return null;
        }
        if (tls.certFile() == null || tls.keyFile() == null) {
            throw new ConfigException("tls needs cert_file and key_file");
        }
        try {
            return SslContextBuilder.forServer(new File(tls.certFile()), new File(tls.keyFile())).build();
        } catch (SSLException | IllegalArgumentException e) {
            throw new ConfigException("tls: " + e.getMessage());
        }
    }
}
