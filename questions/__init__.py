"""Questions and feedback (Hỏi đáp, phản ánh): citizens ask, responders answer, and the
public searches the published answers (`GET /v1/faq`, the `/hoi-dap` page)."""
