"""Lead e-mail: the IMAP mailbox buyers' mail arrives in, and SMTP for replies to relays."""
