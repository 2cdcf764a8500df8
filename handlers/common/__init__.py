"""What the handlers share: request parsing, the JSON API's conventions,
staff sign-in and CSRF, page rendering, and the WeChat wire protocol."""
