"""The sender doctor: checks a sending domain's set-up (SPF, DKIM, DMARC, MX, the tracking
host, a prepared message's RFC 8058 headers) and says what each finding means for machine
clicks and deliverability, and the exact fix."""
