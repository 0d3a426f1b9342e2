"""Ask llmforge's HTTP API two questions, English and Arabic, with the official openai client over
HTTPS, trusting the project's own CA: what a colleague's script does.

    python examples/ask_https.py https://127.0.0.1:8000 path/to/ca.pem lf_...
"""

from __future__ import annotations

import sys

import httpx
import openai

QUESTIONS = ("How often is the chlorine analyser checked?", "ما هو رقم مكتب العمليات؟")


def main(base_url: str, ca_file: str, api_key: str) -> None:
    client = openai.OpenAI(base_url=f"{base_url}/v1", api_key=api_key, max_retries=0, timeout=600,
                           http_client=httpx.Client(verify=ca_file))
    for question in QUESTIONS:
        reply = client.chat.completions.create(model="agent:default",
                                               messages=[{"role": "user", "content": question}])
        print(f"Q: {question}\nA: {reply.choices[0].message.content}")
        for citation in (reply.model_extra or {}).get("citations", []):
            print(f"   [{citation['number']}] {citation['citation']}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
