"""Where messages go: SMTP and sendmail, with names and diagnoses that fit real mail servers."""
