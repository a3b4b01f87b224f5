// The members page: "Copy" puts an invite link on the clipboard (or selects it, where the browser won't).
for (const button of document.querySelectorAll(".invite-copy")) {
  button.addEventListener("click", async () => {
    const link = button.closest(".invite").querySelector(".invite-url");
    try {
      await navigator.clipboard.writeText(link.value);
      button.textContent = "Copied";
    } catch {
      link.select(); // no clipboard here (a page over plain http on another host): the person copies it
      button.textContent = "Selected: copy it";
    }
  });
}
