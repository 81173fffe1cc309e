//! The built-in table of well-known services and how risky exposing them is.
//!
//! This table was written by the portreeve project from public knowledge: port
//! numbers and service names as registered with IANA or documented by each
//! vendor, and the attack history of each service as publicly reported. The
//! rationale and remediation texts are our own; no data file or text was taken
//! from scanners or other projects.
//!
//! Severities follow one scale:
//!
//! - **Critical**: exposure routinely leads to remote compromise without
//!   credentials (plaintext Docker API, unauthenticated kubelet, etcd, Redis,
//!   YARN, Ray, JDWP, X11, Telnet-class cleartext admin).
//! - **High**: sensitive data stores and admin planes that are usually
//!   unauthenticated or brute-forced (databases, SMB, RDP, VNC, NFS, SNMP
//!   v1/v2c, strong reflection amplifiers).
//! - **Medium**: services that should stay internal but do authenticate, or
//!   that leak information (brokers with auth, LDAP, exporters, mail access).
//! - **Low**: commonly public services where hardening matters (SSH, HTTP,
//!   SMTP on MX hosts, DNS because open resolvers amplify).
//! - **Info**: services expected to be public (HTTPS, WireGuard).
//!
//! Each (protocol, port) belongs to at most one entry. Where several products
//! share a port, one entry names the candidates and takes the severity of the
//! riskiest common one. Entries are sorted by their first port.

use portreeve_core::Severity;

use super::{CatalogueEntry, Transport};

/// Every catalogued service, sorted by first port; no (protocol, port) pair
/// appears in two entries.
pub(super) static ENTRIES: &[CatalogueEntry] = &[
    CatalogueEntry {
        service: "Echo",
        transport: Transport::Both,
        ports: &[(7, 7)],
        severity: Severity::Medium,
        rationale: "Reflects whatever it receives; spoofed UDP echo is abused for reflection and packet-loop attacks and has no modern use.",
        remediation: "Disable the echo service in inetd/xinetd and drop port 7 at the firewall.",
    },
    CatalogueEntry {
        service: "Daytime",
        transport: Transport::Both,
        ports: &[(13, 13)],
        severity: Severity::Low,
        rationale: "Legacy inetd service that leaks the host clock and can serve as a small UDP reflector.",
        remediation: "Disable daytime in inetd/xinetd; use NTP or chrony for time.",
    },
    CatalogueEntry {
        service: "Quote of the Day (QOTD)",
        transport: Transport::Both,
        ports: &[(17, 17)],
        severity: Severity::Medium,
        rationale: "Answers every UDP datagram with a much larger quote, a known amplification vector for reflected DDoS.",
        remediation: "Disable QOTD in inetd/xinetd and block port 17 at the edge.",
    },
    CatalogueEntry {
        service: "Character Generator (CHARGEN)",
        transport: Transport::Both,
        ports: &[(19, 19)],
        severity: Severity::High,
        rationale: "Emits a stream of characters per request; spoofed UDP queries make it one of the strongest reflection amplifiers.",
        remediation: "Disable CHARGEN everywhere; it has no legitimate use on production hosts.",
    },
    CatalogueEntry {
        service: "FTP data (active mode)",
        transport: Transport::Tcp,
        ports: &[(20, 20)],
        severity: Severity::Medium,
        rationale: "Carries FTP file contents in cleartext; active-mode data connections complicate firewalling and enable FTP bounce tricks.",
        remediation: "Retire FTP in favour of SFTP or HTTPS; if FTP must stay, use FTPS in passive mode only.",
    },
    CatalogueEntry {
        service: "FTP control",
        transport: Transport::Tcp,
        ports: &[(21, 21)],
        severity: Severity::High,
        rationale: "Sends usernames and passwords in cleartext; anonymous logins and weak accounts are brute-forced constantly.",
        remediation: "Replace with SFTP or FTPS; if it must stay, disable anonymous access and allowlist client addresses.",
    },
    CatalogueEntry {
        service: "SSH",
        transport: Transport::Tcp,
        ports: &[(22, 22)],
        severity: Severity::Low,
        rationale: "Expected admin entry point, but internet-facing SSH is brute-forced around the clock and old daemons carry known CVEs.",
        remediation: "Use key-only auth, disable root and password login, keep OpenSSH patched, and rate-limit or allowlist sources.",
    },
    CatalogueEntry {
        service: "Telnet",
        transport: Transport::Tcp,
        ports: &[(23, 23)],
        severity: Severity::Critical,
        rationale: "Remote shell with credentials and session in cleartext; a prime botnet target (Mirai) using default passwords.",
        remediation: "Disable telnetd, use SSH instead, and block port 23 at every boundary.",
    },
    CatalogueEntry {
        service: "SMTP",
        transport: Transport::Tcp,
        ports: &[(25, 25)],
        severity: Severity::Low,
        rationale: "Needed on MX hosts, but a misconfigured relay is abused for spam and VRFY/EXPN reveal valid mailboxes.",
        remediation: "Expose only on MX hosts, refuse open relaying, disable VRFY/EXPN, and offer STARTTLS.",
    },
    CatalogueEntry {
        service: "Time protocol",
        transport: Transport::Both,
        ports: &[(37, 37)],
        severity: Severity::Low,
        rationale: "Obsolete RFC 868 time service; leaks the clock and adds UDP attack surface for no benefit.",
        remediation: "Disable it in inetd/xinetd and use NTP or chrony instead.",
    },
    CatalogueEntry {
        service: "TACACS+",
        transport: Transport::Tcp,
        ports: &[(49, 49)],
        severity: Severity::Medium,
        rationale: "AAA service for network devices; exposure invites shared-secret guessing against a protocol with weak obfuscation.",
        remediation: "Allow only managed network devices to reach it; firewall port 49 to the management zone.",
    },
    CatalogueEntry {
        service: "DNS",
        transport: Transport::Both,
        ports: &[(53, 53)],
        severity: Severity::Low,
        rationale: "Authoritative DNS is expected to be public, but open recursive resolvers are abused for amplification and cache poisoning.",
        remediation: "Disable recursion for outside clients, enable response rate limiting, and allow zone transfers only to secondaries.",
    },
    CatalogueEntry {
        service: "DHCP server",
        transport: Transport::Udp,
        ports: &[(67, 67)],
        severity: Severity::Medium,
        rationale: "Should serve only local segments; a reachable server leaks lease data, and rogue servers hijack clients' routes and DNS.",
        remediation: "Bind DHCP to internal interfaces, block UDP 67 from other networks, and enable DHCP snooping on switches.",
    },
    CatalogueEntry {
        service: "TFTP",
        transport: Transport::Udp,
        ports: &[(69, 69)],
        severity: Severity::High,
        rationale: "No authentication at all: anyone can fetch device configs or boot images, and writable roots allow tampering.",
        remediation: "Serve TFTP only on provisioning networks, make its root read-only, and block UDP 69 elsewhere.",
    },
    CatalogueEntry {
        service: "Finger",
        transport: Transport::Tcp,
        ports: &[(79, 79)],
        severity: Severity::Medium,
        rationale: "Lists user accounts, login times and home directories, handing attackers a ready username list.",
        remediation: "Disable fingerd and block port 79.",
    },
    CatalogueEntry {
        service: "HTTP",
        transport: Transport::Tcp,
        ports: &[(80, 80)],
        severity: Severity::Low,
        rationale: "Common public port, but content and credentials travel in cleartext and web apps are the most scanned surface.",
        remediation: "Redirect to HTTPS with HSTS, keep the web server patched, and put a WAF in front of dynamic applications.",
    },
    CatalogueEntry {
        service: "Kerberos (KDC, kpasswd)",
        transport: Transport::Both,
        ports: &[(88, 88), (464, 464)],
        severity: Severity::Medium,
        rationale: "Domain controller KDC; outside reach allows user enumeration, AS-REP roasting and password spraying.",
        remediation: "Reach the KDC only from domain networks or over VPN; enforce pre-authentication and strong passwords.",
    },
    CatalogueEntry {
        service: "POP3",
        transport: Transport::Tcp,
        ports: &[(110, 110)],
        severity: Severity::Medium,
        rationale: "Mail retrieval with cleartext passwords unless STARTTLS is enforced; a favourite credential-stuffing target.",
        remediation: "Offer POP3S on 995 only, or require STARTTLS, and rate-limit failed logins.",
    },
    CatalogueEntry {
        service: "rpcbind / portmapper",
        transport: Transport::Both,
        ports: &[(111, 111)],
        severity: Severity::High,
        rationale: "Maps RPC programs to ports, revealing NFS and NIS services, and is a known UDP amplification vector.",
        remediation: "Block 111 from untrusted networks and disable rpcbind if no RPC services (NFSv3, NIS) are needed.",
    },
    CatalogueEntry {
        service: "Ident",
        transport: Transport::Tcp,
        ports: &[(113, 113)],
        severity: Severity::Low,
        rationale: "Reveals which local user owns a connection; rarely needed outside IRC.",
        remediation: "Disable identd or drop port 113 at the firewall.",
    },
    CatalogueEntry {
        service: "NNTP",
        transport: Transport::Tcp,
        ports: &[(119, 119)],
        severity: Severity::Low,
        rationale: "Usenet news transfer; open servers get abused to post spam and can leak internal newsgroups.",
        remediation: "Require authentication for reading and posting, and allow only known peers.",
    },
    CatalogueEntry {
        service: "NTP",
        transport: Transport::Udp,
        ports: &[(123, 123)],
        severity: Severity::Medium,
        rationale: "Time service; mode 6/7 queries such as monlist enable large DDoS amplification and leak client lists.",
        remediation: "Run current ntpd or chrony, refuse mode 6/7 queries from outsiders, and serve time only to your networks.",
    },
    CatalogueEntry {
        service: "MS-RPC endpoint mapper",
        transport: Transport::Both,
        ports: &[(135, 135)],
        severity: Severity::High,
        rationale: "Entry point for DCOM and Windows RPC; enables remote enumeration and has a long history of wormable exploits.",
        remediation: "Never expose it beyond the domain; block 135 at the perimeter and limit it to management subnets.",
    },
    CatalogueEntry {
        service: "NetBIOS (name, datagram, session)",
        transport: Transport::Both,
        ports: &[(137, 139)],
        severity: Severity::High,
        rationale: "Leaks host, domain and user names and carries legacy SMB; a classic target for relay and null-session attacks.",
        remediation: "Disable NetBIOS over TCP/IP where unused and block 137-139 at every boundary.",
    },
    CatalogueEntry {
        service: "IMAP",
        transport: Transport::Tcp,
        ports: &[(143, 143)],
        severity: Severity::Medium,
        rationale: "Mailbox access with cleartext credentials unless STARTTLS is enforced; a constant target of password spraying.",
        remediation: "Offer IMAPS on 993 only, or require STARTTLS, and rate-limit failed logins.",
    },
    CatalogueEntry {
        service: "SNMP",
        transport: Transport::Udp,
        ports: &[(161, 161)],
        severity: Severity::High,
        rationale: "v1/v2c use guessable community strings like 'public' that leak full device configuration; also an amplification vector.",
        remediation: "Use SNMPv3 with authPriv, remove default communities, and allow only the monitoring hosts.",
    },
    CatalogueEntry {
        service: "SNMP trap",
        transport: Transport::Udp,
        ports: &[(162, 162)],
        severity: Severity::Medium,
        rationale: "Trap receivers accept unauthenticated datagrams, so anyone can inject fake alerts or flood the monitoring system.",
        remediation: "Accept traps only from managed devices and prefer SNMPv3 informs.",
    },
    CatalogueEntry {
        service: "BGP",
        transport: Transport::Tcp,
        ports: &[(179, 179)],
        severity: Severity::High,
        rationale: "Routing sessions should accept only configured peers; exposure invites session resets, hijacking and route injection.",
        remediation: "Allow 179 only from peer addresses, use TCP-AO or MD5 with GTSM, and filter it at the edge.",
    },
    CatalogueEntry {
        service: "LDAP",
        transport: Transport::Both,
        ports: &[(389, 389)],
        severity: Severity::Medium,
        rationale: "Directory access with possible anonymous binds and cleartext passwords; UDP (CLDAP) is a strong DDoS amplifier.",
        remediation: "Disable anonymous bind, require LDAPS or StartTLS, block UDP 389 externally, and keep the directory internal.",
    },
    CatalogueEntry {
        service: "Service Location Protocol (SLP)",
        transport: Transport::Both,
        ports: &[(427, 427)],
        severity: Severity::High,
        rationale: "Exploited in ESXi ransomware campaigns and abused for very large UDP reflection attacks (CVE-2023-29552).",
        remediation: "Disable SLP (stop slpd on ESXi) and block port 427 from untrusted networks.",
    },
    CatalogueEntry {
        service: "HTTPS / HTTP/3 (QUIC)",
        transport: Transport::Both,
        ports: &[(443, 443)],
        severity: Severity::Info,
        rationale: "Expected public web service over TLS; the risk lies in the application behind it rather than the port itself.",
        remediation: "Keep the TLS configuration current, renew certificates, and patch the web stack and applications.",
    },
    CatalogueEntry {
        service: "SMB",
        transport: Transport::Tcp,
        ports: &[(445, 445)],
        severity: Severity::High,
        rationale: "Windows file sharing; exposure enables wormable exploits (EternalBlue), NTLM relay, share enumeration and brute force.",
        remediation: "Never expose SMB to the internet; block 445 at the perimeter, disable SMBv1, and require signing.",
    },
    CatalogueEntry {
        service: "SMTP submission over implicit TLS",
        transport: Transport::Tcp,
        ports: &[(465, 465)],
        severity: Severity::Low,
        rationale: "Authenticated mail submission; public by design but a steady credential-stuffing target for spam relaying.",
        remediation: "Require authentication, rate-limit logins, and alert on bursts of failures.",
    },
    CatalogueEntry {
        service: "IPsec IKE / NAT-T",
        transport: Transport::Udp,
        ports: &[(500, 500), (4500, 4500)],
        severity: Severity::Low,
        rationale: "VPN key exchange is meant to be reachable, but IKEv1 aggressive mode leaks PSK hashes that crack offline.",
        remediation: "Use IKEv2 with certificates or strong PSKs, disable aggressive mode, and limit peers where possible.",
    },
    CatalogueEntry {
        service: "Modbus/TCP",
        transport: Transport::Tcp,
        ports: &[(502, 502)],
        severity: Severity::Critical,
        rationale: "Industrial control protocol without authentication; anyone who reaches it can read and write PLC registers.",
        remediation: "Keep ICS protocols on isolated OT networks and reach them only through a hardened gateway.",
    },
    CatalogueEntry {
        service: "BSD r-services (rexec, rlogin, rsh)",
        transport: Transport::Tcp,
        ports: &[(512, 514)],
        severity: Severity::Critical,
        rationale: "Cleartext remote execution that trusts host names and .rhosts files; trivially abused for unauthenticated access.",
        remediation: "Remove the r-services packages, use SSH, and block 512-514/tcp everywhere.",
    },
    CatalogueEntry {
        service: "Syslog",
        transport: Transport::Udp,
        ports: &[(514, 514)],
        severity: Severity::Medium,
        rationale: "Accepts unauthenticated log lines, so anyone can forge or flood entries and bury an attack in noise.",
        remediation: "Accept syslog only from known senders, or move to syslog over TLS (RFC 5425) on 6514.",
    },
    CatalogueEntry {
        service: "LPD printing",
        transport: Transport::Tcp,
        ports: &[(515, 515)],
        severity: Severity::Medium,
        rationale: "Legacy print protocol without authentication; exposes queues and has a history of daemon overflows.",
        remediation: "Serve printing only on internal networks and prefer IPP with authentication.",
    },
    CatalogueEntry {
        service: "RIP",
        transport: Transport::Udp,
        ports: &[(520, 520)],
        severity: Severity::Medium,
        rationale: "Routing updates are accepted with little or no authentication, letting an attacker inject or divert routes.",
        remediation: "Disable RIP on external interfaces; use authenticated RIPv2 or a modern IGP.",
    },
    CatalogueEntry {
        service: "Apple Filing Protocol (AFP)",
        transport: Transport::Tcp,
        ports: &[(548, 548)],
        severity: Severity::Medium,
        rationale: "Legacy macOS and NAS file sharing with weak auth options and past unauthenticated RCE in NAS firmware.",
        remediation: "Switch to SMB3, disable AFP, and never expose file sharing to the internet.",
    },
    CatalogueEntry {
        service: "RTSP (IP cameras, streaming)",
        transport: Transport::Both,
        ports: &[(554, 554)],
        severity: Severity::Medium,
        rationale: "Video stream control, mostly on IP cameras and NVRs that ship with default or no credentials.",
        remediation: "Keep cameras on an isolated VLAN, change default passwords, and view streams over VPN.",
    },
    CatalogueEntry {
        service: "SMTP submission",
        transport: Transport::Tcp,
        ports: &[(587, 587)],
        severity: Severity::Low,
        rationale: "Authenticated mail submission with STARTTLS; public for mail clients but brute-forced to send spam.",
        remediation: "Require STARTTLS before AUTH, rate-limit logins, and watch for compromised accounts.",
    },
    CatalogueEntry {
        service: "MS-RPC over HTTP",
        transport: Transport::Tcp,
        ports: &[(593, 593)],
        severity: Severity::Medium,
        rationale: "Tunnels Windows RPC over HTTP, exposing endpoint mapping and DCOM interfaces outside the domain.",
        remediation: "Disable RPC over HTTP where unused and block 593 at the perimeter.",
    },
    CatalogueEntry {
        service: "IPMI / RMCP+ (BMC)",
        transport: Transport::Udp,
        ports: &[(623, 623)],
        severity: Severity::Critical,
        rationale: "BMC control below the OS; cipher zero and RAKP hash disclosure let attackers bypass or crack logins and own the hardware.",
        remediation: "Put BMCs on a dedicated out-of-band network, disable cipher 0, and change default credentials.",
    },
    CatalogueEntry {
        service: "IPP / CUPS",
        transport: Transport::Both,
        ports: &[(631, 631)],
        severity: Severity::High,
        rationale: "cups-browsed on UDP 631 enabled remote code execution (CVE-2024-47176 chain); IPP also exposes print queues.",
        remediation: "Disable cups-browsed, bind CUPS to localhost unless it is a print server, and block 631 externally.",
    },
    CatalogueEntry {
        service: "LDAPS",
        transport: Transport::Tcp,
        ports: &[(636, 636)],
        severity: Severity::Medium,
        rationale: "Encrypted directory access that still allows enumeration and password spraying when reachable from outside.",
        remediation: "Keep directory services internal, disable anonymous bind, and lock out repeated failed binds.",
    },
    CatalogueEntry {
        service: "DNS over TLS",
        transport: Transport::Tcp,
        ports: &[(853, 853)],
        severity: Severity::Info,
        rationale: "Encrypted DNS for clients; expected on public resolvers but unusual anywhere else.",
        remediation: "Run it only on intended resolvers and apply the same recursion controls as on port 53.",
    },
    CatalogueEntry {
        service: "rsync daemon",
        transport: Transport::Tcp,
        ports: &[(873, 873)],
        severity: Severity::High,
        rationale: "Modules are often anonymous and readable, sometimes writable, leaking backups or allowing files to be planted.",
        remediation: "Set auth users and secrets per module, restrict hosts allow, or run rsync over SSH instead.",
    },
    CatalogueEntry {
        service: "VMware ESXi authentication daemon",
        transport: Transport::Tcp,
        ports: &[(902, 902)],
        severity: Severity::High,
        rationale: "Hypervisor management and console traffic; exposed ESXi hosts are mass-exploited by ransomware crews.",
        remediation: "Reach ESXi management only from an admin network and patch promptly.",
    },
    CatalogueEntry {
        service: "FTPS (implicit TLS)",
        transport: Transport::Tcp,
        ports: &[(989, 990)],
        severity: Severity::Medium,
        rationale: "FTP wrapped in TLS; protects credentials in transit but keeps FTP's brute-force exposure and firewall complexity.",
        remediation: "Prefer SFTP; otherwise disable anonymous access and allowlist client addresses.",
    },
    CatalogueEntry {
        service: "IMAPS",
        transport: Transport::Tcp,
        ports: &[(993, 993)],
        severity: Severity::Low,
        rationale: "Encrypted mailbox access; public by design but a constant target of password spraying.",
        remediation: "Enforce strong passwords or app passwords with MFA, and rate-limit failed logins.",
    },
    CatalogueEntry {
        service: "POP3S",
        transport: Transport::Tcp,
        ports: &[(995, 995)],
        severity: Severity::Low,
        rationale: "Encrypted mail retrieval; public by design but subject to credential stuffing.",
        remediation: "Rate-limit failed logins and retire POP3 where clients can move to IMAP.",
    },
    CatalogueEntry {
        service: "SOCKS proxy",
        transport: Transport::Tcp,
        ports: &[(1080, 1080)],
        severity: Severity::High,
        rationale: "An open SOCKS proxy lets anyone relay traffic through the host, into internal networks or out to attack others.",
        remediation: "Require authentication, bind to internal interfaces, and allow only known client ranges.",
    },
    CatalogueEntry {
        service: "Java RMI registry",
        transport: Transport::Tcp,
        ports: &[(1099, 1099)],
        severity: Severity::Critical,
        rationale: "RMI deserialises objects from the network; exposed registries and JMX endpoints give unauthenticated code execution.",
        remediation: "Bind RMI/JMX to localhost or a management network, enable JMX auth and TLS, and set deserialisation filters.",
    },
    CatalogueEntry {
        service: "OpenVPN",
        transport: Transport::Both,
        ports: &[(1194, 1194)],
        severity: Severity::Low,
        rationale: "VPN endpoint meant to be reachable; weak or leaked client keys and unpatched servers are the real risk.",
        remediation: "Use tls-crypt, certificate auth with a revocation list, and keep OpenVPN updated.",
    },
    CatalogueEntry {
        service: "IBM MQ listener",
        transport: Transport::Tcp,
        ports: &[(1414, 1414)],
        severity: Severity::High,
        rationale: "Queue manager whose default channels, without channel authentication, let outsiders read or inject messages.",
        remediation: "Enable CHLAUTH and TLS on channels, block the default SYSTEM channels, and keep it internal.",
    },
    CatalogueEntry {
        service: "Microsoft SQL Server",
        transport: Transport::Tcp,
        ports: &[(1433, 1433)],
        severity: Severity::High,
        rationale: "The sa login is brute-forced constantly, and xp_cmdshell turns a database login into OS command execution.",
        remediation: "Keep it off the internet, disable sa or give it a strong password, prefer Windows auth, and force encryption.",
    },
    CatalogueEntry {
        service: "SQL Server Browser",
        transport: Transport::Udp,
        ports: &[(1434, 1434)],
        severity: Severity::Medium,
        rationale: "Lists SQL Server instances and their ports to anyone who asks, and can be abused for UDP reflection.",
        remediation: "Disable the Browser service when instances use fixed ports, and block UDP 1434 externally.",
    },
    CatalogueEntry {
        service: "Oracle Database listener (TNS)",
        transport: Transport::Tcp,
        ports: &[(1521, 1521), (2483, 2484)],
        severity: Severity::High,
        rationale: "Database listener; TNS poisoning, SID guessing and default accounts lead to data theft.",
        remediation: "Enable valid node checking, require TLS, and firewall the listener to application hosts.",
    },
    CatalogueEntry {
        service: "L2TP",
        transport: Transport::Udp,
        ports: &[(1701, 1701)],
        severity: Severity::Low,
        rationale: "VPN tunnelling without encryption of its own; bare L2TP exposes tunnelled traffic.",
        remediation: "Run L2TP only inside IPsec and accept UDP 1701 solely through the IPsec SA.",
    },
    CatalogueEntry {
        service: "PPTP",
        transport: Transport::Tcp,
        ports: &[(1723, 1723)],
        severity: Severity::Medium,
        rationale: "Obsolete VPN whose MS-CHAPv2 handshake cracks offline, exposing VPN credentials and traffic.",
        remediation: "Retire PPTP in favour of WireGuard, IKEv2 or OpenVPN.",
    },
    CatalogueEntry {
        service: "RADIUS (authentication, accounting)",
        transport: Transport::Udp,
        ports: &[(1812, 1813)],
        severity: Severity::Medium,
        rationale: "AAA service protected by a shared secret; Blast-RADIUS (CVE-2024-3596) allows forging responses over UDP.",
        remediation: "Allow only known NAS clients, require Message-Authenticator, and prefer RADIUS over TLS.",
    },
    CatalogueEntry {
        service: "MQTT",
        transport: Transport::Tcp,
        ports: &[(1883, 1883)],
        severity: Severity::High,
        rationale: "IoT brokers often allow anonymous clients, so anyone can read telemetry or publish commands to devices.",
        remediation: "Disable anonymous access, require credentials and topic ACLs, and move clients to MQTT over TLS on 8883.",
    },
    CatalogueEntry {
        service: "SSDP / UPnP",
        transport: Transport::Udp,
        ports: &[(1900, 1900)],
        severity: Severity::High,
        rationale: "UPnP discovery answers spoofed queries with large replies (amplification) and exposes device control endpoints.",
        remediation: "Disable UPnP on servers and edge routers and block UDP 1900 from outside.",
    },
    CatalogueEntry {
        service: "NFS",
        transport: Transport::Both,
        ports: &[(2049, 2049)],
        severity: Severity::High,
        rationale: "Shares exported too broadly can be mounted by anyone, and UID spoofing lets them read or write files.",
        remediation: "Export only to named hosts, use root_squash and Kerberos (sec=krb5p), and firewall 2049 to clients.",
    },
    CatalogueEntry {
        service: "cPanel / WHM",
        transport: Transport::Tcp,
        ports: &[(2082, 2083), (2086, 2087)],
        severity: Severity::High,
        rationale: "Hosting control panels, WHM with root rights; brute-forced heavily, and 2082/2086 carry logins in cleartext.",
        remediation: "Serve only the TLS ports, restrict WHM to admin addresses, and enable cPHulk and two-factor auth.",
    },
    CatalogueEntry {
        service: "ZooKeeper client",
        transport: Transport::Tcp,
        ports: &[(2181, 2181)],
        severity: Severity::High,
        rationale: "No authentication by default; anyone can read or change coordination data for Kafka, Hadoop and others.",
        remediation: "Enable SASL and znode ACLs, limit four-letter-word commands, and allow only cluster clients.",
    },
    CatalogueEntry {
        service: "Docker Engine API (plaintext)",
        transport: Transport::Tcp,
        ports: &[(2375, 2375)],
        severity: Severity::Critical,
        rationale: "Unauthenticated Docker API: one privileged container gives root on the host; mass-exploited by cryptominers.",
        remediation: "Never listen on TCP without TLS; use the Unix socket or SSH, or port 2376 with mutual TLS.",
    },
    CatalogueEntry {
        service: "Docker Engine API (TLS)",
        transport: Transport::Tcp,
        ports: &[(2376, 2376)],
        severity: Severity::Medium,
        rationale: "Docker API over TLS is safe only when client certificates are verified, which is often misconfigured.",
        remediation: "Enable tlsverify with client certificates, allow only admin hosts, and prefer SSH access.",
    },
    CatalogueEntry {
        service: "Docker Swarm manager",
        transport: Transport::Tcp,
        ports: &[(2377, 2377)],
        severity: Severity::High,
        rationale: "Cluster management plane; a leaked join token or an exposed manager hands over every node in the swarm.",
        remediation: "Allow 2377 only between swarm nodes, rotate join tokens, and enable autolock.",
    },
    CatalogueEntry {
        service: "etcd (client, peer)",
        transport: Transport::Tcp,
        ports: &[(2379, 2380)],
        severity: Severity::Critical,
        rationale: "Kubernetes' source of truth; without client certificates anyone can read every secret and rewrite cluster state.",
        remediation: "Require mutual TLS for clients and peers, and allow only API servers and etcd members.",
    },
    CatalogueEntry {
        service: "ZooKeeper quorum (peer, leader election)",
        transport: Transport::Tcp,
        ports: &[(2888, 2888), (3888, 3888)],
        severity: Severity::High,
        rationale: "Ensemble traffic without authentication; a rogue peer can disrupt elections or inject state.",
        remediation: "Allow these ports only between ensemble members and enable quorum SASL and TLS.",
    },
    CatalogueEntry {
        service: "Grafana / Aerospike / Node.js dev servers",
        transport: Transport::Tcp,
        ports: &[(3000, 3000)],
        severity: Severity::High,
        rationale: "Often Grafana with default admin/admin or Aerospike without auth; dev servers here leak source and debug data.",
        remediation: "Change default passwords, put dashboards behind SSO, and bind databases and dev servers to localhost.",
    },
    CatalogueEntry {
        service: "Firebird / InterBase",
        transport: Transport::Tcp,
        ports: &[(3050, 3050)],
        severity: Severity::High,
        rationale: "Database server with a well-known default SYSDBA password; exposure leads to data theft.",
        remediation: "Change SYSDBA credentials, require wire encryption, and allow only application hosts.",
    },
    CatalogueEntry {
        service: "Squid / HTTP proxy",
        transport: Transport::Tcp,
        ports: &[(3128, 3128)],
        severity: Severity::High,
        rationale: "An open proxy relays attacks and spam from your address and can reach internal services.",
        remediation: "Limit http_access to internal networks and require proxy authentication.",
    },
    CatalogueEntry {
        service: "iSCSI",
        transport: Transport::Tcp,
        ports: &[(3260, 3260)],
        severity: Severity::High,
        rationale: "Block storage without CHAP lets anyone attach LUNs and read or corrupt entire disks.",
        remediation: "Use mutual CHAP, restrict initiator names, and keep storage traffic on a dedicated network.",
    },
    CatalogueEntry {
        service: "Active Directory Global Catalog",
        transport: Transport::Tcp,
        ports: &[(3268, 3269)],
        severity: Severity::Medium,
        rationale: "Forest-wide LDAP index; reachable from outside it allows directory enumeration and password spraying.",
        remediation: "Keep it internal to domain networks and monitor failed binds.",
    },
    CatalogueEntry {
        service: "Ceph monitor (msgr2, legacy msgr1)",
        transport: Transport::Tcp,
        ports: &[(3300, 3300), (6789, 6789)],
        severity: Severity::Medium,
        rationale: "Cluster map and authentication service; exposure invites cephx attacks and denial of service against storage.",
        remediation: "Keep monitors on a storage network, require cephx, and use msgr2 secure mode.",
    },
    CatalogueEntry {
        service: "MySQL / MariaDB",
        transport: Transport::Tcp,
        ports: &[(3306, 3306)],
        severity: Severity::High,
        rationale: "Brute-forced constantly; weak or empty root passwords lead straight to data theft.",
        remediation: "Bind to localhost or a private network, disable remote root, and require TLS for remote clients.",
    },
    CatalogueEntry {
        service: "RDP",
        transport: Transport::Both,
        ports: &[(3389, 3389)],
        severity: Severity::High,
        rationale: "Remote Desktop is a leading ransomware entry point via brute force, stolen credentials and BlueKeep-class bugs.",
        remediation: "Put RDP behind a VPN or RD Gateway with MFA, enable NLA, and lock out repeated failures.",
    },
    CatalogueEntry {
        service: "STUN / TURN",
        transport: Transport::Both,
        ports: &[(3478, 3478), (5349, 5349)],
        severity: Severity::Low,
        rationale: "NAT traversal for WebRTC; a loosely configured TURN relay lets outsiders proxy into internal networks.",
        remediation: "Require TURN credentials and deny relaying to private, loopback and link-local addresses.",
    },
    CatalogueEntry {
        service: "distcc",
        transport: Transport::Tcp,
        ports: &[(3632, 3632)],
        severity: Severity::Critical,
        rationale: "Distributed compiler daemon that runs commands for allowed clients; open instances give remote code execution.",
        remediation: "Restrict --allow to build hosts, or run distcc over SSH.",
    },
    CatalogueEntry {
        service: "Subversion (svnserve)",
        transport: Transport::Tcp,
        ports: &[(3690, 3690)],
        severity: Severity::Medium,
        rationale: "Repository access often with anonymous read; leaks source code and any secrets committed to it.",
        remediation: "Disable anonymous access, use SASL or serve over HTTPS, and limit to developer networks.",
    },
    CatalogueEntry {
        service: "WS-Discovery",
        transport: Transport::Udp,
        ports: &[(3702, 3702)],
        severity: Severity::High,
        rationale: "Device discovery that answers spoofed probes with large replies; abused for high-ratio amplification.",
        remediation: "Block UDP 3702 at the edge and disable discovery on servers and cameras.",
    },
    CatalogueEntry {
        service: "NATS (client, cluster, monitoring)",
        transport: Transport::Tcp,
        ports: &[(4222, 4222), (6222, 6222), (8222, 8222)],
        severity: Severity::Medium,
        rationale: "Message bus that admits anonymous clients unless configured; the monitoring port leaks topology and connections.",
        remediation: "Enable accounts or NKeys with TLS, and keep cluster and monitoring ports internal.",
    },
    CatalogueEntry {
        service: "Erlang Port Mapper Daemon (EPMD)",
        transport: Transport::Tcp,
        ports: &[(4369, 4369)],
        severity: Severity::High,
        rationale: "Lists Erlang nodes (RabbitMQ, CouchDB, ejabberd); with a guessed cookie their distribution port gives code execution.",
        remediation: "Allow EPMD and distribution ports only between cluster nodes, and use long random Erlang cookies.",
    },
    CatalogueEntry {
        service: "Selenium Grid hub (also a common reverse-shell port)",
        transport: Transport::Tcp,
        ports: &[(4444, 4444)],
        severity: Severity::Critical,
        rationale: "No auth by default; attackers start browsers with crafted options to run commands, as seen in cryptomining campaigns.",
        remediation: "Keep the grid on a private network or behind an authenticating proxy; investigate unknown listeners.",
    },
    CatalogueEntry {
        service: "SaltStack master",
        transport: Transport::Tcp,
        ports: &[(4505, 4506)],
        severity: Severity::Critical,
        rationale: "Publish and request ports; auth bypass (CVE-2020-11651) gave root command execution on every minion.",
        remediation: "Allow only minion networks, keep Salt patched, and never expose the master to the internet.",
    },
    CatalogueEntry {
        service: "HashiCorp Nomad (HTTP, RPC, Serf)",
        transport: Transport::Both,
        ports: &[(4646, 4648)],
        severity: Severity::Critical,
        rationale: "ACLs are off by default, so anyone reaching the HTTP API can submit a job that runs arbitrary commands.",
        remediation: "Enable ACLs and mutual TLS; allow the API only from operators and RPC/Serf only between servers.",
    },
    CatalogueEntry {
        service: "Cisco Smart Install",
        transport: Transport::Tcp,
        ports: &[(4786, 4786)],
        severity: Severity::Critical,
        rationale: "Unauthenticated switch provisioning; attackers rewrite configurations and firmware, as state actors have done.",
        remediation: "Disable it with 'no vstack' and block 4786 on all interfaces.",
    },
    CatalogueEntry {
        service: "VXLAN overlay (IANA 4789, Linux/Flannel 8472)",
        transport: Transport::Udp,
        ports: &[(4789, 4789), (8472, 8472)],
        severity: Severity::High,
        rationale: "Encapsulation without authentication; anyone who reaches it can inject packets straight into overlay networks.",
        remediation: "Accept VXLAN only from cluster node addresses, or encrypt the overlay with IPsec or WireGuard.",
    },
    CatalogueEntry {
        service: "OPC UA",
        transport: Transport::Tcp,
        ports: &[(4840, 4840)],
        severity: Severity::High,
        rationale: "Industrial data server; anonymous sessions or security mode None let outsiders read and write plant data.",
        remediation: "Disable anonymous login and the None security policy, and keep it on an isolated OT network.",
    },
    CatalogueEntry {
        service: "GlassFish / Payara admin",
        transport: Transport::Tcp,
        ports: &[(4848, 4848)],
        severity: Severity::High,
        rationale: "Application server admin that historically shipped with an empty admin password; deploying an app means code execution.",
        remediation: "Set an admin password, disable remote admin unless needed, and restrict to admin hosts.",
    },
    CatalogueEntry {
        service: "Docker Registry / MLflow / Flask dev server",
        transport: Transport::Tcp,
        ports: &[(5000, 5000)],
        severity: Severity::High,
        rationale: "Registries default to no auth (image theft or poisoning); MLflow and Flask dev servers lack auth and leak data or code.",
        remediation: "Require auth and TLS on registries, bind dev tools to localhost, and put MLflow behind an auth proxy.",
    },
    CatalogueEntry {
        service: "Java debug wire protocol (JDWP)",
        transport: Transport::Tcp,
        ports: &[(5005, 5005)],
        severity: Severity::Critical,
        rationale: "JDWP has no authentication; any client that attaches can execute arbitrary code inside the JVM.",
        remediation: "Never enable jdwp in production; bind the agent to 127.0.0.1 and reach it over an SSH tunnel.",
    },
    CatalogueEntry {
        service: "Logstash Beats input",
        transport: Transport::Tcp,
        ports: &[(5044, 5044)],
        severity: Severity::Medium,
        rationale: "Accepts events from any Beats client unless TLS client auth is set, allowing log forgery and flooding.",
        remediation: "Require TLS with client certificates and allow only shipper hosts.",
    },
    CatalogueEntry {
        service: "SIP (plain, TLS)",
        transport: Transport::Both,
        ports: &[(5060, 5061)],
        severity: Severity::Medium,
        rationale: "VoIP signalling scanned constantly for extension brute force and toll fraud; cleartext on 5060.",
        remediation: "Allow only SIP trunk providers and phones, use strong extension secrets with fail2ban, and prefer TLS on 5061.",
    },
    CatalogueEntry {
        service: "XMPP (client, server-to-server)",
        transport: Transport::Tcp,
        ports: &[(5222, 5222), (5269, 5269)],
        severity: Severity::Low,
        rationale: "Chat service meant to be reachable; weak passwords and open registration invite spam and account takeover.",
        remediation: "Require TLS, disable in-band registration, and rate-limit logins.",
    },
    CatalogueEntry {
        service: "mDNS",
        transport: Transport::Udp,
        ports: &[(5353, 5353)],
        severity: Severity::Medium,
        rationale: "Local service discovery that leaks host and service names and, when reachable from outside, amplifies traffic.",
        remediation: "Disable Avahi/Bonjour on servers or block UDP 5353 beyond the local link.",
    },
    CatalogueEntry {
        service: "LLMNR",
        transport: Transport::Both,
        ports: &[(5355, 5355)],
        severity: Severity::Medium,
        rationale: "Name resolution fallback that attackers poison to capture NTLM hashes (Responder-style attacks).",
        remediation: "Disable LLMNR by group policy or in systemd-resolved and rely on DNS.",
    },
    CatalogueEntry {
        service: "PostgreSQL",
        transport: Transport::Tcp,
        ports: &[(5432, 5432)],
        severity: Severity::High,
        rationale: "Brute-forced on the internet; a superuser login allows COPY ... PROGRAM, which runs shell commands.",
        remediation: "Bind to private addresses, use scram-sha-256 and hostssl rules in pg_hba.conf, and allow only app hosts.",
    },
    CatalogueEntry {
        service: "Android Debug Bridge (ADB)",
        transport: Transport::Tcp,
        ports: &[(5555, 5555)],
        severity: Severity::Critical,
        rationale: "ADB over TCP gives an unauthenticated, often root, shell on many devices; abused by cryptomining worms.",
        remediation: "Disable network ADB on devices and block 5555 everywhere.",
    },
    CatalogueEntry {
        service: "Kibana",
        transport: Transport::Tcp,
        ports: &[(5601, 5601)],
        severity: Severity::High,
        rationale: "Often exposed without security enabled, leaking all indexed logs; older versions had remote code execution bugs.",
        remediation: "Enable Elastic security with SSO, keep Kibana patched, and reach it through an authenticating proxy.",
    },
    CatalogueEntry {
        service: "Nagios NRPE",
        transport: Transport::Tcp,
        ports: &[(5666, 5666)],
        severity: Severity::High,
        rationale: "Runs check commands for remote callers; with argument passing enabled it becomes remote command execution.",
        remediation: "Set allowed_hosts to the monitoring server, keep dont_blame_nrpe off, and use TLS.",
    },
    CatalogueEntry {
        service: "AMQP (RabbitMQ, Qpid, ActiveMQ)",
        transport: Transport::Tcp,
        ports: &[(5671, 5672)],
        severity: Severity::Medium,
        rationale: "Brokers have auth, but default guest accounts and cleartext 5672 expose messages and credentials.",
        remediation: "Remove guest users, require TLS on 5671, and keep brokers on internal networks.",
    },
    CatalogueEntry {
        service: "CoAP",
        transport: Transport::Udp,
        ports: &[(5683, 5683)],
        severity: Severity::Medium,
        rationale: "IoT protocol over UDP, often without DTLS; leaks device data and reflects amplified responses.",
        remediation: "Use DTLS or OSCORE and block UDP 5683 at the edge.",
    },
    CatalogueEntry {
        service: "VNC (and VNC over HTTP)",
        transport: Transport::Tcp,
        ports: &[(5800, 5800), (5900, 5906)],
        severity: Severity::High,
        rationale: "Remote desktop with short passwords or none at all; scanned constantly for open screens.",
        remediation: "Tunnel VNC over SSH or a VPN, bind it to localhost, and set strong passwords.",
    },
    CatalogueEntry {
        service: "TeamViewer",
        transport: Transport::Both,
        ports: &[(5938, 5938)],
        severity: Severity::Medium,
        rationale: "Remote support tool abused through reused credentials; unattended access gives full control of the desktop.",
        remediation: "Enforce two-factor auth and allowlists in TeamViewer, or remove it from servers.",
    },
    CatalogueEntry {
        service: "Apache CouchDB",
        transport: Transport::Tcp,
        ports: &[(5984, 5984)],
        severity: Severity::High,
        rationale: "Old defaults left the server in admin party mode, and CVE-2017-12635/12636 turned access into code execution.",
        remediation: "Set admin credentials, bind to private addresses, enable TLS, and keep CouchDB current.",
    },
    CatalogueEntry {
        service: "WinRM (HTTP)",
        transport: Transport::Tcp,
        ports: &[(5985, 5985)],
        severity: Severity::High,
        rationale: "PowerShell remoting; sprayed or stolen credentials give remote command execution on Windows hosts.",
        remediation: "Allow WinRM only from admin hosts, prefer HTTPS on 5986, and limit Remote Management Users.",
    },
    CatalogueEntry {
        service: "WinRM (HTTPS)",
        transport: Transport::Tcp,
        ports: &[(5986, 5986)],
        severity: Severity::Medium,
        rationale: "Encrypted PowerShell remoting; still a lateral-movement path whenever credentials leak.",
        remediation: "Restrict to admin jump hosts and require Kerberos or certificate authentication.",
    },
    CatalogueEntry {
        service: "X11 display server",
        transport: Transport::Tcp,
        ports: &[(6000, 6005), (6007, 6063)],
        severity: Severity::Critical,
        rationale: "An X server that accepts remote clients lets anyone log keystrokes, capture the screen and inject input.",
        remediation: "Start X with -nolisten tcp, use SSH X11 forwarding, and block 6000-6063 externally.",
    },
    CatalogueEntry {
        service: "TensorBoard / X11 display :6",
        transport: Transport::Tcp,
        ports: &[(6006, 6006)],
        severity: Severity::Critical,
        rationale: "TensorBoard has no auth and exposes experiment data; on X11 hosts this is display :6, open to keystroke capture.",
        remediation: "Bind TensorBoard to localhost and use SSH port forwarding; start X with -nolisten tcp.",
    },
    CatalogueEntry {
        service: "Geneve overlay",
        transport: Transport::Udp,
        ports: &[(6081, 6081)],
        severity: Severity::High,
        rationale: "Encapsulation without authentication; anyone who reaches it can inject packets into overlay networks.",
        remediation: "Accept Geneve only from cluster node addresses, or encrypt the overlay.",
    },
    CatalogueEntry {
        service: "Redis (also Ray GCS)",
        transport: Transport::Tcp,
        ports: &[(6379, 6379)],
        severity: Severity::Critical,
        rationale: "No auth by default; attackers write SSH keys or cron jobs via CONFIG SET, or load modules, for remote code execution.",
        remediation: "Bind to 127.0.0.1 or a private address, keep protected-mode on, set ACL passwords, and disable CONFIG.",
    },
    CatalogueEntry {
        service: "Kubernetes API server",
        transport: Transport::Tcp,
        ports: &[(6443, 6443)],
        severity: Severity::High,
        rationale: "Cluster control plane; anonymous auth, loose RBAC or leaked tokens give control of every workload.",
        remediation: "Limit the endpoint to admin networks or a VPN, disable anonymous auth, and audit RBAC bindings.",
    },
    CatalogueEntry {
        service: "IRC",
        transport: Transport::Tcp,
        ports: &[(6660, 6669), (6697, 6697)],
        severity: Severity::Medium,
        rationale: "Rare on servers; a listening IRC daemon often signals a botnet command channel or a forgotten service.",
        remediation: "Confirm the service is intended; otherwise remove it and investigate the host.",
    },
    CatalogueEntry {
        service: "Cassandra internode",
        transport: Transport::Tcp,
        ports: &[(7000, 7001)],
        severity: Severity::High,
        rationale: "Gossip and replication traffic; without internode encryption an attacker can join or disrupt the ring.",
        remediation: "Allow only cluster members and enable internode encryption with client authentication.",
    },
    CatalogueEntry {
        service: "Apache Spark master",
        transport: Transport::Tcp,
        ports: &[(7077, 7077)],
        severity: Severity::Critical,
        rationale: "The standalone master accepts jobs without auth by default, letting anyone run code on every worker.",
        remediation: "Enable spark.authenticate with a secret, keep the master on a private network, and firewall 7077.",
    },
    CatalogueEntry {
        service: "Cassandra JMX",
        transport: Transport::Tcp,
        ports: &[(7199, 7199)],
        severity: Severity::Critical,
        rationale: "JMX over RMI allows loading MBeans remotely; without authentication this is unauthenticated code execution.",
        remediation: "Bind JMX to localhost (LOCAL_JMX=yes) or enable JMX authentication and TLS.",
    },
    CatalogueEntry {
        service: "Neo4j (HTTPS, HTTP, Bolt)",
        transport: Transport::Tcp,
        ports: &[(7473, 7474), (7687, 7687)],
        severity: Severity::High,
        rationale: "Graph database with default neo4j/neo4j credentials; APOC procedures can expose data and local files.",
        remediation: "Change default credentials, disable unneeded APOC procedures, and allow only application hosts.",
    },
    CatalogueEntry {
        service: "TR-069 / CWMP",
        transport: Transport::Tcp,
        ports: &[(7547, 7547)],
        severity: Severity::High,
        rationale: "ISP router management port; exploited by Mirai variants for mass compromise of home gateways.",
        remediation: "Restrict CWMP to the ACS addresses or disable it.",
    },
    CatalogueEntry {
        service: "Docker Swarm / Serf gossip (memberlist)",
        transport: Transport::Both,
        ports: &[(7946, 7946)],
        severity: Severity::Medium,
        rationale: "Node discovery traffic; unauthenticated gossip lets outsiders map the cluster or inject members.",
        remediation: "Allow only cluster nodes and enable gossip encryption.",
    },
    CatalogueEntry {
        service: "HTTP alternate (dev servers, Splunk Web; Tomcat JPDA default)",
        transport: Transport::Tcp,
        ports: &[(8000, 8000)],
        severity: Severity::High,
        rationale: "Dev servers here often run in debug mode, and Tomcat's 'jpda start' default puts JDWP (code execution) on 8000.",
        remediation: "Identify the listener, bind dev servers and debuggers to localhost, and serve real apps over TLS.",
    },
    CatalogueEntry {
        service: "Kong Admin API / kubectl proxy",
        transport: Transport::Tcp,
        ports: &[(8001, 8001)],
        severity: Severity::Critical,
        rationale: "Both grant unauthenticated control: Kong admin rewrites routes and plugins; kubectl proxy relays the whole cluster API.",
        remediation: "Bind to 127.0.0.1, protect Kong admin with RBAC, and never run kubectl proxy on a public address.",
    },
    CatalogueEntry {
        service: "Tomcat shutdown port",
        transport: Transport::Tcp,
        ports: &[(8005, 8005)],
        severity: Severity::Medium,
        rationale: "Sending the shutdown string stops Tomcat; it should only ever listen on localhost.",
        remediation: "Keep it on 127.0.0.1, change the shutdown string, or disable it with port -1.",
    },
    CatalogueEntry {
        service: "Apache JServ Protocol (Tomcat AJP)",
        transport: Transport::Tcp,
        ports: &[(8009, 8009)],
        severity: Severity::Critical,
        rationale: "Ghostcat (CVE-2020-1938) lets unauthenticated clients read webapp files and, with uploads, execute code.",
        remediation: "Disable the AJP connector, or bind it to localhost and set a required secret.",
    },
    CatalogueEntry {
        service: "HDFS NameNode RPC",
        transport: Transport::Tcp,
        ports: &[(8020, 8020)],
        severity: Severity::High,
        rationale: "Without Kerberos, Hadoop trusts the user name the client claims, so anyone can read or delete files.",
        remediation: "Enable Kerberos (hadoop.security.authentication) and allow only cluster clients.",
    },
    CatalogueEntry {
        service: "YARN NodeManager",
        transport: Transport::Tcp,
        ports: &[(8042, 8042)],
        severity: Severity::High,
        rationale: "Web UI and API expose container logs and environments, which often include credentials.",
        remediation: "Enable Kerberos/SPNEGO on web UIs and keep YARN ports on the cluster network.",
    },
    CatalogueEntry {
        service: "HTTP alternate (Tomcat, Jenkins, Spark UI, Traefik, ZooKeeper admin)",
        transport: Transport::Tcp,
        ports: &[(8080, 8080)],
        severity: Severity::High,
        rationale: "Often an admin UI: Tomcat manager, Jenkins script console or Traefik's insecure API can yield code execution.",
        remediation: "Identify the service, require authentication and TLS, and restrict admin UIs to internal networks.",
    },
    CatalogueEntry {
        service: "Apache Flink / Confluent Schema Registry / Nexus",
        transport: Transport::Tcp,
        ports: &[(8081, 8081)],
        severity: Severity::Critical,
        rationale: "Flink's dashboard lets anyone upload and run a JAR; an unauthenticated Schema Registry lets clients rewrite schemas.",
        remediation: "Put the UI behind an authenticating proxy, disable Flink web submit, and restrict 8081 to internal networks.",
    },
    CatalogueEntry {
        service: "Kafka Connect REST API (also legacy InfluxDB admin)",
        transport: Transport::Tcp,
        ports: &[(8083, 8083)],
        severity: Severity::Critical,
        rationale: "Unauthenticated connector creation enables JNDI and file-read attacks, leading to code execution (CVE-2023-25194).",
        remediation: "Bind the REST listener to localhost or enable authentication, and allowlist connector classes.",
    },
    CatalogueEntry {
        service: "InfluxDB HTTP API",
        transport: Transport::Tcp,
        ports: &[(8086, 8086)],
        severity: Severity::High,
        rationale: "InfluxDB 1.x ships with auth disabled, letting anyone read or delete all time-series data.",
        remediation: "Enable authentication with tokens, serve over TLS, and restrict to application hosts.",
    },
    CatalogueEntry {
        service: "Riak KV (protocol buffers, HTTP)",
        transport: Transport::Tcp,
        ports: &[(8087, 8087), (8098, 8098)],
        severity: Severity::High,
        rationale: "Riak has no authentication by default; anyone reaching it can read, write or delete buckets.",
        remediation: "Enable Riak security with TLS and allow only application and cluster hosts.",
    },
    CatalogueEntry {
        service: "Hadoop YARN ResourceManager",
        transport: Transport::Tcp,
        ports: &[(8088, 8088)],
        severity: Severity::Critical,
        rationale: "The REST API accepts new applications without auth, a widely exploited route to cryptominers and shells.",
        remediation: "Enable Kerberos and SPNEGO, keep 8088 on the cluster network, and block it at the perimeter.",
    },
    CatalogueEntry {
        service: "Splunk management (splunkd)",
        transport: Transport::Tcp,
        ports: &[(8089, 8089)],
        severity: Severity::High,
        rationale: "REST API with admin functions; default or weak credentials lead to scripted command execution.",
        remediation: "Restrict 8089 to Splunk infrastructure, change default passwords, and require TLS.",
    },
    CatalogueEntry {
        service: "Couchbase Server",
        transport: Transport::Tcp,
        ports: &[(8091, 8096), (11207, 11207), (11210, 11210)],
        severity: Severity::High,
        rationale: "Web console, query and data ports; weak admin passwords or open data ports expose every bucket.",
        remediation: "Use strong admin credentials and RBAC, enable TLS-only ports, and allow only app and cluster hosts.",
    },
    CatalogueEntry {
        service: "ClickHouse HTTP / Home Assistant",
        transport: Transport::Tcp,
        ports: &[(8123, 8123)],
        severity: Severity::High,
        rationale: "ClickHouse's default user has no password, allowing any SQL including file and URL table functions.",
        remediation: "Set a password for the default user, restrict its networks in users.xml, and bind to private addresses.",
    },
    CatalogueEntry {
        service: "Puppet Server",
        transport: Transport::Tcp,
        ports: &[(8140, 8140)],
        severity: Severity::High,
        rationale: "Agents fetch catalogues containing secrets here; autosigning lets rogue hosts enrol and obtain them.",
        remediation: "Disable naive autosign in favour of policy-based signing, and allow only managed hosts to reach 8140.",
    },
    CatalogueEntry {
        service: "ActiveMQ web console",
        transport: Transport::Tcp,
        ports: &[(8161, 8161)],
        severity: Severity::High,
        rationale: "Jetty console with admin/admin defaults; older versions allowed file upload leading to code execution.",
        remediation: "Change default credentials, bind the console to localhost, and upgrade ActiveMQ.",
    },
    CatalogueEntry {
        service: "HashiCorp Vault (API, cluster)",
        transport: Transport::Tcp,
        ports: &[(8200, 8201)],
        severity: Severity::Medium,
        rationale: "Strongly authenticated, but exposure invites token and login brute force; the cluster port should stay private.",
        remediation: "Serve the API over TLS to known networks, keep 8201 between Vault nodes, and audit enabled auth methods.",
    },
    CatalogueEntry {
        service: "Ray dashboard / Jobs API",
        transport: Transport::Tcp,
        ports: &[(8265, 8265)],
        severity: Severity::Critical,
        rationale: "Ray has no auth; its Jobs API runs arbitrary commands (ShadowRay, CVE-2023-48022) and is exploited at scale.",
        remediation: "Bind the dashboard to localhost, reach it via SSH tunnel or auth proxy, and firewall all Ray ports.",
    },
    CatalogueEntry {
        service: "MikroTik Winbox",
        transport: Transport::Tcp,
        ports: &[(8291, 8291)],
        severity: Severity::High,
        rationale: "Router admin protocol; CVE-2018-14847 leaked credentials from exposed Winbox and fuelled large botnets.",
        remediation: "Restrict Winbox to management addresses and keep RouterOS updated.",
    },
    CatalogueEntry {
        service: "Consul server RPC / Serf LAN / Serf WAN",
        transport: Transport::Both,
        ports: &[(8300, 8302)],
        severity: Severity::High,
        rationale: "Server RPC and gossip; without gossip encryption and mutual TLS, outsiders can join or disrupt the cluster.",
        remediation: "Enable gossip encryption and verify_incoming TLS, and allow only Consul agents.",
    },
    CatalogueEntry {
        service: "HAProxy stats",
        transport: Transport::Tcp,
        ports: &[(8404, 8404)],
        severity: Severity::Medium,
        rationale: "The stats page reveals backend topology and, in admin mode, lets anyone disable servers.",
        remediation: "Protect the page with auth, turn off admin mode, and listen only on internal addresses.",
    },
    CatalogueEntry {
        service: "HTTPS alternate (admin consoles)",
        transport: Transport::Tcp,
        ports: &[(8443, 8443)],
        severity: Severity::Medium,
        rationale: "Usually a management UI for a controller, dashboard or appliance rather than a public site.",
        remediation: "Identify the console, require strong auth with MFA, and restrict it to admin networks.",
    },
    CatalogueEntry {
        service: "Consul HTTP API",
        transport: Transport::Tcp,
        ports: &[(8500, 8501)],
        severity: Severity::Critical,
        rationale: "ACLs default to allow; registering a service with a script check through the API gives remote code execution.",
        remediation: "Enable ACLs with default deny, disable script checks, and bind the HTTP API to localhost or require TLS.",
    },
    CatalogueEntry {
        service: "Ethereum JSON-RPC",
        transport: Transport::Tcp,
        ports: &[(8545, 8545)],
        severity: Severity::Critical,
        rationale: "Bots drain funds through exposed node RPC calling unlocked accounts; also leaks node details.",
        remediation: "Bind RPC to localhost, disable personal/admin APIs, and never unlock accounts on a reachable node.",
    },
    CatalogueEntry {
        service: "Consul DNS",
        transport: Transport::Both,
        ports: &[(8600, 8600)],
        severity: Severity::Medium,
        rationale: "Reveals every registered service and node address to whoever queries it.",
        remediation: "Serve Consul DNS only to internal resolvers and forward to it from them.",
    },
    CatalogueEntry {
        service: "MikroTik RouterOS API",
        transport: Transport::Tcp,
        ports: &[(8728, 8729)],
        severity: Severity::High,
        rationale: "Router API brute-forced for admin access, which gives full control of the device.",
        remediation: "Disable the API service or restrict it to management addresses, preferring api-ssl.",
    },
    CatalogueEntry {
        service: "Nacos",
        transport: Transport::Tcp,
        ports: &[(8848, 8848)],
        severity: Severity::Critical,
        rationale: "Config and discovery server with auth bypass bugs (CVE-2021-29441) and default signing keys; leaks all app configs.",
        remediation: "Enable auth with a non-default token secret, upgrade, and never expose Nacos beyond the app network.",
    },
    CatalogueEntry {
        service: "MQTT over TLS",
        transport: Transport::Tcp,
        ports: &[(8883, 8883)],
        severity: Severity::Medium,
        rationale: "Encrypted broker access; still open to abuse when anonymous clients are allowed or topic ACLs are loose.",
        remediation: "Require client certificates or passwords and enforce topic ACLs.",
    },
    CatalogueEntry {
        service: "Jupyter / Apache Druid / HTTP alternate",
        transport: Transport::Tcp,
        ports: &[(8888, 8888)],
        severity: Severity::High,
        rationale: "Jupyter is a shell for anyone with the token (or anyone, if auth is off); Druid lacks auth by default (CVE-2021-25646).",
        remediation: "Keep Jupyter tokens or passwords on, enable Druid auth, and reach both via SSH tunnels or SSO.",
    },
    CatalogueEntry {
        service: "Apache Solr",
        transport: Transport::Tcp,
        ports: &[(8983, 8983)],
        severity: Severity::Critical,
        rationale: "No auth by default; config API and template flaws (CVE-2019-17558) turn admin access into code execution.",
        remediation: "Enable the authentication plugin, keep Solr patched, and bind to private addresses.",
    },
    CatalogueEntry {
        service: "ClickHouse native / HDFS NameNode RPC / MinIO / Portainer / PHP-FPM / SonarQube",
        transport: Transport::Tcp,
        ports: &[(9000, 9000)],
        severity: Severity::Critical,
        rationale: "Often PHP-FPM FastCGI, which runs injected PHP for anyone who reaches it; the other candidates hold data or admin planes.",
        remediation: "Identify the listener; bind FastCGI to a Unix socket or 127.0.0.1 and require auth on the rest.",
    },
    CatalogueEntry {
        service: "Supervisor / MinIO console / Tor ORPort",
        transport: Transport::Tcp,
        ports: &[(9001, 9001)],
        severity: Severity::High,
        rationale: "Supervisor's inet_http_server often lacks auth, controls processes, and had RCE (CVE-2017-11610).",
        remediation: "Use Supervisor's Unix socket or set a username and password, and bind consoles to internal addresses.",
    },
    CatalogueEntry {
        service: "Cassandra client (CQL, CQL TLS, Thrift)",
        transport: Transport::Tcp,
        ports: &[(9042, 9042), (9142, 9142), (9160, 9160)],
        severity: Severity::High,
        rationale: "Default AllowAllAuthenticator and cassandra/cassandra credentials expose every keyspace.",
        remediation: "Enable PasswordAuthenticator, replace the default superuser, enable client TLS, and allow only app hosts.",
    },
    CatalogueEntry {
        service: "Tor SOCKS / control port",
        transport: Transport::Tcp,
        ports: &[(9050, 9051)],
        severity: Severity::High,
        rationale: "A reachable Tor SOCKS port is an open anonymising proxy, and the control port can reconfigure the daemon.",
        remediation: "Bind Tor ports to 127.0.0.1 and protect the control port with cookie or password auth.",
    },
    CatalogueEntry {
        service: "Prometheus / Cockpit web console",
        transport: Transport::Tcp,
        ports: &[(9090, 9090)],
        severity: Severity::High,
        rationale: "Prometheus leaks targets, labels and topology (its admin API deletes data); Cockpit is a root-capable login page.",
        remediation: "Put Prometheus behind an auth proxy with the admin API off, and limit Cockpit to admin networks.",
    },
    CatalogueEntry {
        service: "Prometheus Pushgateway / Transmission web",
        transport: Transport::Tcp,
        ports: &[(9091, 9091)],
        severity: Severity::Medium,
        rationale: "Pushgateway accepts pushes and deletes from anyone, letting attackers falsify or erase metrics.",
        remediation: "Allow only batch job hosts and put it behind an auth proxy.",
    },
    CatalogueEntry {
        service: "Apache Kafka",
        transport: Transport::Tcp,
        ports: &[(9092, 9092)],
        severity: Severity::High,
        rationale: "The default PLAINTEXT listener has no auth: anyone can read topics, inject messages or delete data.",
        remediation: "Enable SASL/SCRAM or mutual TLS with ACLs, and advertise listeners only on internal networks.",
    },
    CatalogueEntry {
        service: "Alertmanager / Kafka TLS listener",
        transport: Transport::Tcp,
        ports: &[(9093, 9093)],
        severity: Severity::Medium,
        rationale: "Alertmanager accepts silences from anyone, letting an attacker mute alerts during an intrusion.",
        remediation: "Front Alertmanager with an auth proxy and allow only Prometheus and operators.",
    },
    CatalogueEntry {
        service: "node_exporter / raw printing (JetDirect)",
        transport: Transport::Tcp,
        ports: &[(9100, 9100)],
        severity: Severity::Medium,
        rationale: "node_exporter reveals OS, mounts and network detail; JetDirect printers accept jobs and PJL file commands from anyone.",
        remediation: "Bind exporters to the scrape network with TLS or basic auth; allow printers only from print servers.",
    },
    CatalogueEntry {
        service: "Elasticsearch / OpenSearch HTTP",
        transport: Transport::Tcp,
        ports: &[(9200, 9200)],
        severity: Severity::High,
        rationale: "Clusters without security are routinely wiped and ransomed; old versions executed scripts remotely.",
        remediation: "Enable built-in security with TLS and auth, bind to private addresses, and allow only app hosts.",
    },
    CatalogueEntry {
        service: "Node.js inspector",
        transport: Transport::Tcp,
        ports: &[(9229, 9229)],
        severity: Severity::Critical,
        rationale: "The --inspect debugger has no auth; attaching gives arbitrary JavaScript execution in the process.",
        remediation: "Never use --inspect=0.0.0.0; bind to 127.0.0.1 and forward over SSH.",
    },
    CatalogueEntry {
        service: "Elasticsearch / OpenSearch transport",
        transport: Transport::Tcp,
        ports: &[(9300, 9300)],
        severity: Severity::High,
        rationale: "Node-to-node protocol; without transport TLS an attacker can join the cluster or read replicated data.",
        remediation: "Enable transport TLS with certificate verification and allow only cluster members.",
    },
    CatalogueEntry {
        service: "Git daemon",
        transport: Transport::Tcp,
        ports: &[(9418, 9418)],
        severity: Severity::Medium,
        rationale: "Unauthenticated, unencrypted repository export that leaks source code and any secrets in its history.",
        remediation: "Serve Git over SSH or HTTPS with auth and disable git-daemon exports.",
    },
    CatalogueEntry {
        service: "Portainer HTTPS / HTTPS alternate",
        transport: Transport::Tcp,
        ports: &[(9443, 9443)],
        severity: Severity::High,
        rationale: "Portainer controls Docker hosts, and a fresh install lets the first visitor create the admin account.",
        remediation: "Finish setup immediately, enforce SSO or strong passwords, and restrict to admin networks.",
    },
    CatalogueEntry {
        service: "HDFS DataNode (HTTP, data transfer)",
        transport: Transport::Tcp,
        ports: &[(9864, 9864), (9866, 9866), (50010, 50010), (50075, 50075)],
        severity: Severity::High,
        rationale: "Without Kerberos, DataNodes serve and accept blocks for anyone, exposing and corrupting stored data.",
        remediation: "Enable Kerberos and data transfer encryption, and allow only cluster hosts.",
    },
    CatalogueEntry {
        service: "HDFS NameNode web UI / WebHDFS",
        transport: Transport::Tcp,
        ports: &[(9870, 9870), (50070, 50070)],
        severity: Severity::High,
        rationale: "WebHDFS with simple auth trusts a user.name parameter, so anyone can browse, write or delete files.",
        remediation: "Enable Kerberos/SPNEGO on web endpoints and block 9870 and 50070 outside the cluster.",
    },
    CatalogueEntry {
        service: "Envoy admin interface",
        transport: Transport::Tcp,
        ports: &[(9901, 9901)],
        severity: Severity::High,
        rationale: "Admin endpoints dump config including secrets and can shut the proxy down (/quitquitquit).",
        remediation: "Bind the admin listener to 127.0.0.1 or a Unix socket.",
    },
    CatalogueEntry {
        service: "WildFly / JBoss management",
        transport: Transport::Tcp,
        ports: &[(9990, 9990)],
        severity: Severity::High,
        rationale: "Management console and API; deployment rights mean code execution, and weak passwords are common.",
        remediation: "Bind management to localhost or admin networks and require strong credentials.",
    },
    CatalogueEntry {
        service: "Webmin",
        transport: Transport::Tcp,
        ports: &[(10000, 10000)],
        severity: Severity::High,
        rationale: "Root-level web admin; brute-forced often, and a backdoored release (CVE-2019-15107) allowed unauthenticated RCE.",
        remediation: "Restrict Webmin to admin addresses, enable two-factor auth, and keep it updated.",
    },
    CatalogueEntry {
        service: "Ray client server",
        transport: Transport::Tcp,
        ports: &[(10001, 10001)],
        severity: Severity::Critical,
        rationale: "Ray client connections run arbitrary code on the cluster without any authentication.",
        remediation: "Bind to localhost and reach Ray through SSH tunnels or an authenticating proxy.",
    },
    CatalogueEntry {
        service: "Ubiquiti device discovery",
        transport: Transport::Udp,
        ports: &[(10001, 10001)],
        severity: Severity::Medium,
        rationale: "UniFi and AirOS discovery replies leak device details and have been abused for reflection attacks.",
        remediation: "Disable discovery on WAN interfaces and block UDP 10001 at the edge.",
    },
    CatalogueEntry {
        service: "Zabbix agent",
        transport: Transport::Tcp,
        ports: &[(10050, 10050)],
        severity: Severity::High,
        rationale: "Answers allowed servers; with remote commands or system.run enabled it executes shell commands.",
        remediation: "Set Server= to the Zabbix server only, disable remote commands, and use PSK or certificate encryption.",
    },
    CatalogueEntry {
        service: "Zabbix server trapper",
        transport: Transport::Tcp,
        ports: &[(10051, 10051)],
        severity: Severity::Medium,
        rationale: "Accepts agent and sender data; exposure allows injecting fake metrics and probing for server CVEs.",
        remediation: "Allow only agents and proxies, and require PSK or TLS for agent connections.",
    },
    CatalogueEntry {
        service: "kube-proxy metrics",
        transport: Transport::Tcp,
        ports: &[(10249, 10249)],
        severity: Severity::Medium,
        rationale: "Unauthenticated metrics reveal service and endpoint details of the cluster.",
        remediation: "Set metricsBindAddress to 127.0.0.1 or firewall it to the monitoring network.",
    },
    CatalogueEntry {
        service: "Kubernetes kubelet API",
        transport: Transport::Tcp,
        ports: &[(10250, 10250)],
        severity: Severity::Critical,
        rationale: "With anonymous auth or AlwaysAllow, the /exec and /run endpoints give command execution in every pod on the node.",
        remediation: "Set anonymous-auth=false and authorization-mode=Webhook, and allow only the API server to reach 10250.",
    },
    CatalogueEntry {
        service: "Kubernetes kubelet read-only API",
        transport: Transport::Tcp,
        ports: &[(10255, 10255)],
        severity: Severity::High,
        rationale: "Unauthenticated port listing pods, specs and environment variables, which often hold secrets.",
        remediation: "Set readOnlyPort: 0 and scrape metrics through the authenticated port instead.",
    },
    CatalogueEntry {
        service: "kube-proxy health check",
        transport: Transport::Tcp,
        ports: &[(10256, 10256)],
        severity: Severity::Low,
        rationale: "Health endpoint reveals node status to anyone; low value, but unnecessary outside the cluster.",
        remediation: "Allow only load balancer health checkers to reach it.",
    },
    CatalogueEntry {
        service: "kube-controller-manager (secure port)",
        transport: Transport::Tcp,
        ports: &[(10257, 10257)],
        severity: Severity::Medium,
        rationale: "Authenticated HTTPS endpoint that should never be reachable from outside the control plane.",
        remediation: "Set --bind-address=127.0.0.1 and firewall control-plane ports.",
    },
    CatalogueEntry {
        service: "kube-scheduler (secure port)",
        transport: Transport::Tcp,
        ports: &[(10259, 10259)],
        severity: Severity::Medium,
        rationale: "Authenticated HTTPS endpoint that should never be reachable from outside the control plane.",
        remediation: "Set --bind-address=127.0.0.1 and firewall control-plane ports.",
    },
    CatalogueEntry {
        service: "Memcached",
        transport: Transport::Both,
        ports: &[(11211, 11211)],
        severity: Severity::High,
        rationale: "No auth: cache contents leak and can be poisoned, and UDP memcached enabled record 50,000x amplification attacks.",
        remediation: "Disable UDP (-U 0), bind to localhost or private addresses, and enable SASL if remote access is needed.",
    },
    CatalogueEntry {
        service: "Ollama API",
        transport: Transport::Tcp,
        ports: &[(11434, 11434)],
        severity: Severity::High,
        rationale: "No authentication; anyone can run, pull or delete models, and path traversal (CVE-2024-37032) led to RCE.",
        remediation: "Bind OLLAMA_HOST to 127.0.0.1 and put an authenticating reverse proxy in front.",
    },
    CatalogueEntry {
        service: "RabbitMQ management",
        transport: Transport::Tcp,
        ports: &[(15672, 15672)],
        severity: Severity::Medium,
        rationale: "Admin UI and HTTP API; guest/guest or weak passwords hand over vhosts, queues and users.",
        remediation: "Remove the guest user, enforce strong passwords, and restrict the UI to admin networks.",
    },
    CatalogueEntry {
        service: "Intel AMT",
        transport: Transport::Tcp,
        ports: &[(16992, 16995)],
        severity: Severity::Critical,
        rationale: "Out-of-band management below the OS; CVE-2017-5689 let an empty digest response log in as admin.",
        remediation: "Disable AMT where unused, update firmware, and block 16992-16995 from user networks.",
    },
    CatalogueEntry {
        service: "Netdata",
        transport: Transport::Tcp,
        ports: &[(19999, 19999)],
        severity: Severity::Medium,
        rationale: "Real-time dashboard without auth that leaks processes, connections and detailed system metrics.",
        remediation: "Bind to localhost or put it behind an auth proxy.",
    },
    CatalogueEntry {
        service: "DNP3 / Usermin",
        transport: Transport::Tcp,
        ports: &[(20000, 20000)],
        severity: Severity::High,
        rationale: "DNP3 is a SCADA protocol usually without authentication, letting outsiders read and operate outstations.",
        remediation: "Keep DNP3 on isolated OT networks with Secure Authentication; restrict Usermin to known users' networks.",
    },
    CatalogueEntry {
        service: "GlusterFS management",
        transport: Transport::Tcp,
        ports: &[(24007, 24008)],
        severity: Severity::High,
        rationale: "Management daemon; without TLS, unauthorised peers can probe, mount volumes and read files.",
        remediation: "Enable management and I/O TLS, set auth.allow on volumes, and allow only storage hosts.",
    },
    CatalogueEntry {
        service: "RabbitMQ Erlang distribution",
        transport: Transport::Tcp,
        ports: &[(25672, 25672)],
        severity: Severity::High,
        rationale: "Inter-node Erlang port; anyone holding or guessing the cookie gets code execution on the broker.",
        remediation: "Allow only cluster members, use a long random cookie, and enable inter-node TLS.",
    },
    CatalogueEntry {
        service: "Redis Sentinel",
        transport: Transport::Tcp,
        ports: &[(26379, 26379)],
        severity: Severity::High,
        rationale: "Sentinel has no auth by default; attackers can trigger failover or point clients at a rogue master.",
        remediation: "Set a Sentinel password, bind to private addresses, and allow only Redis hosts and clients.",
    },
    CatalogueEntry {
        service: "MongoDB",
        transport: Transport::Tcp,
        ports: &[(27017, 27019)],
        severity: Severity::High,
        rationale: "Old defaults listened on all interfaces without auth; thousands of databases were wiped and ransomed.",
        remediation: "Enable authorization, bind to private addresses, require TLS, and allow only app hosts.",
    },
    CatalogueEntry {
        service: "EtherNet/IP (CIP)",
        transport: Transport::Both,
        ports: &[(44818, 44818)],
        severity: Severity::High,
        rationale: "Industrial automation protocol without authentication that lets outsiders identify and command PLCs.",
        remediation: "Isolate OT networks and never route 44818 to the internet.",
    },
    CatalogueEntry {
        service: "BACnet/IP",
        transport: Transport::Udp,
        ports: &[(47808, 47808)],
        severity: Severity::High,
        rationale: "Building automation protocol without auth; exposes HVAC and access control to tampering.",
        remediation: "Keep building systems on isolated networks and reach them only through a VPN.",
    },
    CatalogueEntry {
        service: "Jenkins inbound agents / IBM Db2 / SAP",
        transport: Transport::Tcp,
        ports: &[(50000, 50000)],
        severity: Severity::High,
        rationale: "Jenkins' agent port speaks the remoting protocol (past deserialisation RCE); Db2 and SAP use it for services.",
        remediation: "Allow only agent hosts (or switch to WebSocket agents), and restrict Db2 and SAP to application hosts.",
    },
    CatalogueEntry {
        service: "WireGuard",
        transport: Transport::Udp,
        ports: &[(51820, 51820)],
        severity: Severity::Info,
        rationale: "Modern VPN endpoint designed to be public; it stays silent to unauthenticated peers.",
        remediation: "Keep private keys safe, remove peers whose keys are lost, and expose only the tunnel port.",
    },
    CatalogueEntry {
        service: "ActiveMQ OpenWire",
        transport: Transport::Tcp,
        ports: &[(61616, 61616)],
        severity: Severity::Critical,
        rationale: "CVE-2023-46604 lets unauthenticated clients instantiate classes for remote code execution; widely exploited.",
        remediation: "Upgrade ActiveMQ, require auth and TLS, and allow only application hosts.",
    },
];

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::{CatalogueEntry, ENTRIES, Transport};

    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    enum Proto {
        Tcp,
        Udp,
    }

    fn protocols(transport: Transport) -> &'static [Proto] {
        match transport {
            Transport::Tcp => &[Proto::Tcp],
            Transport::Udp => &[Proto::Udp],
            Transport::Both => &[Proto::Tcp, Proto::Udp],
        }
    }

    fn covering(proto: Proto, port: u16) -> Option<&'static CatalogueEntry> {
        ENTRIES.iter().find(|e| {
            protocols(e.transport).contains(&proto)
                && e.ports.iter().any(|&(lo, hi)| (lo..=hi).contains(&port))
        })
    }

    /// The documentation states the catalogue's size: exactly, with a count
    /// per severity, in docs/findings.md ("It holds N entries in this
    /// version (A critical, …)"), and roughly in the README ("~N well-known
    /// services"). Users size their expectations on those numbers, so the
    /// catalogue must hold what they claim: an entry added or removed without
    /// updating them fails here.
    #[test]
    fn catalogue_holds_what_the_docs_claim() {
        use portreeve_core::Severity;
        let docs = |file: &str| {
            let path = format!("{}/../../{file}", env!("CARGO_MANIFEST_DIR"));
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
        };
        // The number just before `marker` in `text`.
        fn number_before(text: &str, marker: &str) -> usize {
            let at = text
                .find(marker)
                .unwrap_or_else(|| panic!("no `{marker}` in the docs"));
            let head = text[..at].trim_end();
            let digits = head.len() - head.chars().rev().take_while(char::is_ascii_digit).count();
            head[digits..]
                .parse()
                .unwrap_or_else(|e| panic!("before `{marker}`: {e}"))
        }

        let findings = docs("docs/findings.md");
        let claim_at = findings
            .find("It holds ")
            .expect("docs/findings.md states the catalogue's size");
        let claim = &findings[claim_at..];
        let claim = &claim[..claim.find("):").expect("the claim ends with `):`") + 1];
        let claim = claim.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(
            number_before(&claim, " entries in this version"),
            ENTRIES.len(),
            "docs/findings.md: {claim}"
        );
        for severity in [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
            Severity::Info,
        ] {
            let name = format!(" {severity}");
            let actual = ENTRIES.iter().filter(|e| e.severity == severity).count();
            assert_eq!(number_before(&claim, &name), actual, "{name}: {claim}");
        }
        // The same count in the example under the claim.
        assert!(
            findings.contains(&format!("\n{}\n```", ENTRIES.len())),
            "the `catalogue --format json | python3` example prints {}",
            ENTRIES.len()
        );

        // The README rounds it: `~N` within 5 %.
        let readme = docs("README.md");
        let rough = number_before(&readme, " well-known services");
        assert!(readme.contains(&format!("~{rough} well-known services")));
        let off = rough.abs_diff(ENTRIES.len()) as f64 / ENTRIES.len() as f64;
        assert!(
            off <= 0.05,
            "README says ~{rough}, the catalogue holds {}",
            ENTRIES.len()
        );
    }

    #[test]
    fn no_protocol_port_is_claimed_twice() {
        let mut seen: HashMap<(Proto, u16), &str> = HashMap::new();
        for entry in ENTRIES {
            for &(lo, hi) in entry.ports {
                for port in lo..=hi {
                    for &proto in protocols(entry.transport) {
                        if let Some(previous) = seen.insert((proto, port), entry.service) {
                            panic!(
                                "{proto:?}/{port} is claimed by both {previous:?} and {:?}",
                                entry.service
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn ranges_are_well_formed_and_entries_sorted() {
        let mut previous_first = 0;
        for entry in ENTRIES {
            assert!(!entry.ports.is_empty(), "{} has no ports", entry.service);
            let mut previous_end = 0;
            for &(lo, hi) in entry.ports {
                assert!(lo >= 1, "{}: port 0 in range", entry.service);
                assert!(lo <= hi, "{}: range {lo}-{hi} is reversed", entry.service);
                assert!(
                    lo > previous_end,
                    "{}: ranges unsorted or overlapping",
                    entry.service
                );
                previous_end = hi;
            }
            let first = entry.ports[0].0;
            assert!(first >= previous_first, "{} is out of order", entry.service);
            previous_first = first;
        }
    }

    #[test]
    fn texts_are_single_tidy_lines() {
        for entry in ENTRIES {
            assert!(!entry.service.trim().is_empty(), "empty service name");
            for (what, text) in [
                ("rationale", entry.rationale),
                ("remediation", entry.remediation),
            ] {
                assert!(!text.is_empty(), "{}: empty {what}", entry.service);
                assert!(
                    text.chars().count() <= 200,
                    "{}: {what} too long",
                    entry.service
                );
                assert!(
                    !text.ends_with(char::is_whitespace),
                    "{}: trailing whitespace in {what}",
                    entry.service
                );
                assert!(
                    !text.contains('\n'),
                    "{}: {what} spans lines",
                    entry.service
                );
            }
        }
    }

    #[test]
    fn required_services_are_catalogued() {
        use Proto::{Tcp, Udp};
        let required = [
            (Tcp, 23),
            (Tcp, 21),
            (Udp, 69),
            (Tcp, 445),
            (Tcp, 139),
            (Tcp, 3389),
            (Tcp, 5900),
            (Tcp, 6000),
            (Tcp, 111),
            (Tcp, 2049),
            (Tcp, 389),
            (Udp, 161),
            (Udp, 123),
            (Tcp, 6379),
            (Tcp, 11211),
            (Udp, 11211),
            (Tcp, 27017),
            (Tcp, 9200),
            (Tcp, 9092),
            (Tcp, 2181),
            (Tcp, 2379),
            (Tcp, 10250),
            (Tcp, 10255),
            (Tcp, 6443),
            (Tcp, 2375),
            (Tcp, 2376),
            (Tcp, 3306),
            (Tcp, 5432),
            (Tcp, 1433),
            (Tcp, 1521),
            (Tcp, 5984),
            (Tcp, 9042),
            (Tcp, 5672),
            (Tcp, 8088),
            (Tcp, 8888),
            (Tcp, 9090),
            (Tcp, 9100),
            (Tcp, 8500),
            (Tcp, 8200),
        ];
        let missing: Vec<_> = required
            .iter()
            .filter(|&&(proto, port)| covering(proto, port).is_none())
            .collect();
        assert!(missing.is_empty(), "not catalogued: {missing:?}");
    }

    #[test]
    fn key_severities_match_the_scale() {
        use portreeve_core::Severity;
        let expect = [
            (Proto::Tcp, 2375, Severity::Critical),
            (Proto::Tcp, 23, Severity::Critical),
            (Proto::Tcp, 10250, Severity::Critical),
            (Proto::Tcp, 6379, Severity::Critical),
            (Proto::Tcp, 22, Severity::Low),
            (Proto::Tcp, 80, Severity::Low),
            (Proto::Udp, 53, Severity::Low),
            (Proto::Tcp, 443, Severity::Info),
        ];
        for (proto, port, severity) in expect {
            let entry = covering(proto, port).expect("catalogued");
            assert_eq!(
                entry.severity, severity,
                "{proto:?}/{port} ({})",
                entry.service
            );
        }
    }
}
